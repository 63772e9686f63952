package io.d3vm.migration;

import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.synthetic.SyntheticGuest;
import io.d3vm.migration.recv.MigrationReceiver;
import io.d3vm.migration.recv.ReceiverLimits;
import io.d3vm.migration.send.ByteSavings;
import io.d3vm.migration.send.MigrationSender;
import io.d3vm.migration.send.SendOptions;
import io.d3vm.migration.transport.Connection;
import io.d3vm.migration.transport.Listener;
import io.d3vm.migration.transport.TcpTransport;
import io.d3vm.memory.DirtyBitmap;
import io.d3vm.memory.MemoryDigest;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Compiles the migration path before a real migration needs it. A JVM runs new code interpreted
 * first: the first migration of a fresh {@code receive} or {@code run --api-socket} process spent
 * tens of milliseconds of its setup, round 1 and pause in cold code (the decoder, the
 * received-map, the digest fold, the classifier's residency loop). So each such process migrates
 * a small synthetic guest to itself over loopback a few times, sender and receiver both, before it
 * serves the first real migration: {@code receive} before it says it is listening, {@code run}
 * while its guest boots ({@code query-status}' {@code warming-up} says when it is done). It
 * delays {@code receive}'s "listening" by 2.4-2.6 s here (2.2-2.8 s before the second migration
 * forced the savings on, {@link #options}); the 1 GiB test guest's setup went from 73–140 to
 * 22–38 ms with it and receive's prepared VM (docs/BENCHMARKS.md).
 */
public final class Warmup {
    private static final String GUEST = "synthetic:mem=64M,zero=60,uniform=10,touched-zero=50,dirty-rate=20000,seed=1";
    private static final int MIGRATIONS = 4;
    private static final AtomicBoolean STARTED = new AtomicBoolean();
    private static final java.util.concurrent.CountDownLatch DONE = new java.util.concurrent.CountDownLatch(1);

    private Warmup() {}

    /** Runs the self-migrations once per process (later calls return at once); a failure is only reported to {@code why}. */
    public static void run(java.util.function.Consumer<String> why) {
        run(() -> { }, why);
    }

    /** As {@link #run(java.util.function.Consumer)}, running {@code alsoFirst} (the VMM's own warm-up) inside the same wait. */
    public static void run(Runnable alsoFirst, java.util.function.Consumer<String> why) {
        if (!STARTED.compareAndSet(false, true)) {
            return;
        }
        try {
            try {
                alsoFirst.run();
            } catch (RuntimeException e) {
                why.accept("warm-up failed (the first real migration will run colder): " + e.getMessage());
            }
            selfMigrations(why);
        } finally {
            DONE.countDown();
        }
    }

    /** Whether a warm-up has started and not ended: a migration asked for now waits for it ({@link #awaitIfStarted}). */
    public static boolean pending() {
        return STARTED.get() && DONE.getCount() > 0;
    }

    /**
     * Waits for a warm-up that is under way (a migration asked for while its process starts waits
     * for it rather than competing with it for the CPU, and its total-time includes the wait).
     */
    public static void awaitIfStarted() {
        if (STARTED.get()) {
            try {
                DONE.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static void selfMigrations(java.util.function.Consumer<String> why) {
        MemoryDigest.warmUp(); // the self-migrations below hash pages, but never a whole memory in one pass
        DirtyBitmap.warmUp();  // nor scan a large guest's dirty bitmap
        TcpTransport tcp = new TcpTransport();
        try (Listener l = tcp.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            for (int i = 0; i < MIGRATIONS; i++) {
                // The receiver on a thread of its own, never on the common pool: a caller that is itself a
                // common-pool task (an in-process test's receive) would leave it queued behind itself.
                CompletableFuture<Void> rx = CompletableFuture.runAsync(() -> {
                    try (Connection c = l.accept()) {
                        new MigrationReceiver(SyntheticGuest.register(new GuestFactories()), ReceiverLimits.defaults()).receive(c).shutdown();
                    } catch (IOException | MigrationException e) {
                        throw new IllegalStateException(e);
                    }
                }, task -> Thread.ofPlatform().daemon().name("warm-up-receiver").start(task));
                new MigrationSender(SyntheticGuest.create(GUEST), options(i)).migrate(tcp, l.localAddress(), 5000);
                rx.join();
            }
        } catch (IOException | MigrationException | RuntimeException e) {
            why.accept("warm-up migration failed (the first real migration will run colder): " + e.getMessage());
        }
    }

    /**
     * The options of self-migration {@code i}: the defaults, and for the second one duplicates and
     * zstd forced on. Towards this host {@code auto} turns both off ({@code ByteSavings.onLoopback}),
     * so the defaults alone leave the content hash, the compressor and the receiver's decompressor
     * cold for the first migration to another host: its duplicate index then took 100-780 ms to hash
     * the 20,000 normal pages of a Debian guest's RAM at 1 Gbit/s (series 3, docs/BENCHMARKS.md);
     * one such migration (about 5,000 hashes) brought that to 90-190 ms. Only one: each adds to the
     * warm-up that an early migration waits for.
     */
    static SendOptions options(int i) {
        return i != 1 ? SendOptions.defaults()
                : SendOptions.defaults().withSavings(new ByteSavings(ByteSavings.Compress.ZSTD, ByteSavings.Duplicates.ON));
    }

    /** {@link #run(Runnable, java.util.function.Consumer)} on a daemon thread. */
    public static void runInBackground(Runnable alsoFirst, java.util.function.Consumer<String> why) {
        Thread.ofPlatform().daemon().name("migration-warm-up").start(() -> run(alsoFirst, why));
    }
}
