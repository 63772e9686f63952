package io.d3vm.migration.guest;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The thread on which {@link Migratable#saveStateAsync} reads a paused guest's state. One long-lived
 * daemon thread, started before any pause ({@link #prestart}): creating a thread inside the pause
 * cost the switch-over a few hundred microseconds, on the cores the pause's own work needs.
 */
public final class StateSaveThread {
    private static final ExecutorService EXECUTOR = Executors.newSingleThreadExecutor(
            r -> Thread.ofPlatform().daemon().name("state-save").unstarted(r));

    private StateSaveThread() {}

    /** Starts the thread now (a migration calls this at its start, long before the pause). */
    public static void prestart() {
        CompletableFuture.runAsync(() -> { }, EXECUTOR).join();
    }

    static CompletableFuture<byte[]> submit(Migratable guest) {
        return CompletableFuture.supplyAsync(guest::saveState, EXECUTOR);
    }
}
