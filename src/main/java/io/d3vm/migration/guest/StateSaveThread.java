package io.d3vm.migration.guest;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The thread on which {@link Migratable#saveStateAsync} reads a paused guest's state. One long-lived
 * daemon thread, started before any pause ({@link #prestart}): creating a thread inside the pause
 * cost the switch-over a few hundred microseconds, on the cores the pause's own work needs.
 */
public final class StateSaveThread {
    private static final ThreadPoolExecutor EXECUTOR = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS,
            new LinkedBlockingQueue<>(), r -> Thread.ofPlatform().daemon().name("state-save").unstarted(r));

    private StateSaveThread() {}

    /**
     * Starts the thread now (a migration calls this at its start, long before the pause). Never
     * waits for a task: a caller on a fork/join worker that joined one could end up running
     * unrelated pool tasks meanwhile (it did: the warm-up's receiver, blocked in accept, forever).
     */
    public static void prestart() {
        EXECUTOR.prestartCoreThread();
    }

    static CompletableFuture<byte[]> submit(Migratable guest) {
        return CompletableFuture.supplyAsync(guest::saveState, EXECUTOR);
    }
}
