package io.d3vm.migration.fault;

import io.d3vm.migration.MigrationException;
import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.migration.guest.SyntheticGuest;
import io.d3vm.migration.recv.MigrationReceiver;
import io.d3vm.migration.recv.ReceiverLimits;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.send.MigrationSender;
import io.d3vm.migration.send.SendOptions;
import io.d3vm.migration.transport.Connection;
import io.d3vm.migration.transport.Listener;
import io.d3vm.migration.transport.TcpTransport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Seeded fault injection: every run migrates a small running synthetic guest and breaks it once —
 * a cut, stall, delay or corrupted byte at a random offset of the stream ({@link FaultProxy}), the
 * receiver process killed, or the sender process killed, at a random point. Every run must end in
 * one of two ways:
 * <ul>
 * <li><b>completed</b>: both sides agree on the digest, the destination guest runs, and its memory
 *     equals the {@link SyntheticModel} after the writes it has made (so nothing was lost or torn);</li>
 * <li><b>failed safe</b>: the source guest runs on (its writer makes progress), and once paused its
 *     memory equals the model after its own writes (the migration left no trace); the destination
 *     resumed nothing and discarded every guest it built.</li>
 * </ul>
 * Counts per fault kind and outcome are printed at the end (docs/RELIABILITY.md has a run's table).
 */
class FaultInjectionTest {
    static final int PROXY_RUNS = 56;
    static final int KILL_RUNS = 8;
    static final long STALL_TIMEOUT_MS = 1000;
    static final Map<String, Map<String, Integer>> COUNTS = new TreeMap<>();

    static String spec(int seed) {
        return "synthetic:mem=16M,zero=40,uniform=10,touched-zero=50,dirty-rate=3000,threads=1,seed=" + seed;
    }

    static SendOptions sendOptions() {
        return SendOptions.defaults().withTimeouts(10_000, STALL_TIMEOUT_MS);
    }

    static ReceiverLimits limits() {
        return ReceiverLimits.defaults().withReadTimeoutMillis(STALL_TIMEOUT_MS);
    }

    static IntStream proxyRuns() {
        return IntStream.range(0, PROXY_RUNS);
    }

    static IntStream killRuns() {
        return IntStream.range(0, KILL_RUNS);
    }

    /** A destination that records every guest it builds and whether it was resumed. */
    static final class Destination {
        final List<Tracked> built = new CopyOnWriteArrayList<>();
        final GuestFactories factories = new GuestFactories().register("synthetic", (d, layout) -> {
            Tracked t = new Tracked(SyntheticGuest.createDestination(d, layout));
            built.add(t);
            return t;
        });

        CompletableFuture<Migratable> receiveOnce(Listener l) {
            return CompletableFuture.supplyAsync(() -> {
                MigrationReceiver r = new MigrationReceiver(factories, limits());
                try (Connection c = l.accept()) {
                    return r.receive(c);
                } catch (MigrationException e) {
                    return null;
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
        }

        /** Nothing left: every guest built was discarded without ever running. */
        void assertLeftWithNothing() {
            for (Tracked t : built) {
                assertThat(t.resumed).as("a destination guest of a failed migration was resumed").isFalse();
                assertThat(t.guest.isShutdown()).as("a half-received guest was not discarded").isTrue();
            }
        }
    }

    static final class Tracked implements Migratable {
        final SyntheticGuest guest;
        volatile boolean resumed;

        Tracked(SyntheticGuest guest) {
            this.guest = guest;
        }

        @Override public io.d3vm.memory.GuestMemory memory() { return guest.memory(); }
        @Override public String describe() { return guest.describe(); }
        @Override public void startDirtyLogging() { guest.startDirtyLogging(); }
        @Override public void collectDirtyPages(io.d3vm.memory.DirtyBitmap into) { guest.collectDirtyPages(into); }
        @Override public void stopDirtyLogging() { guest.stopDirtyLogging(); }
        @Override public void pause() { guest.pause(); }
        @Override public void resume() { resumed = true; guest.resume(); }
        @Override public byte[] saveState() { return guest.saveState(); }
        @Override public void restoreState(byte[] state) { guest.restoreState(state); }
        @Override public void shutdown() { guest.shutdown(); }
    }

    @ParameterizedTest(name = "run {0}")
    @MethodSource("proxyRuns")
    void shouldCompleteOrLeaveTheSourceIntactWhenTheStreamIsBroken(int run) throws Exception {
        Random r = new Random(run * 7919L + 1);
        FaultProxy.Kind kind = FaultProxy.Kind.values()[run % 4];
        // A quarter of the faults land in the first 64 KiB (setup, first batches), the rest anywhere
        // in the ~10 MiB a migration of this guest sends; some land past its end and never strike.
        long at = r.nextInt(4) == 0 ? r.nextInt(64 << 10) : (long) (r.nextDouble() * (12 << 20));
        FaultProxy.Fault fault = new FaultProxy.Fault(kind, at, 20 + r.nextInt(200), 1 + r.nextInt(4), 1 << r.nextInt(8));
        SyntheticGuest source = SyntheticGuest.create(spec(run));
        Destination dest = new Destination();
        MigrationReport report = null;
        String outcome;
        try (Listener l = new TcpTransport().listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
             FaultProxy proxy = new FaultProxy(l.localAddress(), fault)) {
            CompletableFuture<Migratable> rx = dest.receiveOnce(l);
            try {
                report = new MigrationSender(source, sendOptions()).migrate(new TcpTransport(), proxy.address(), 5000);
            } catch (MigrationException e) {
                // judged below
            }
            Migratable received = rx.get(60, TimeUnit.SECONDS);
            outcome = judge(source, report, received, dest, fault.toString());
            count(kind.name().toLowerCase() + (proxy.struck() ? "" : " (past the end)"), outcome);
        }
    }

    /** Checks the run ended in one of the two allowed ways; returns which. */
    static String judge(SyntheticGuest source, MigrationReport report, Migratable received, Destination dest, String what)
            throws InterruptedException {
        boolean sent = report != null && "completed".equals(report.status);
        if (sent && received != null) {
            assertThat(report.digestMatch).as(what).isTrue();
            assertThat(source.isShutdown()).as("source ends after the ACK").isTrue();
            assertRunningAndTrue(((Tracked) received).guest, what + " (destination)");
            return "completed";
        }
        assertThat(sent).as(what + ": the source completed but the destination has no guest: the guest is lost").isFalse();
        assertThat(received).as(what + ": the destination runs the guest but the source resumed too: two copies").isNull();
        dest.assertLeftWithNothing();
        assertRunningAndTrue(source, what + " (source)");
        return "failed safe";
    }

    /** The guest runs (its writer progresses); paused, its memory equals the model; then it is shut down. */
    static void assertRunningAndTrue(SyntheticGuest g, String what) throws InterruptedException {
        try {
            assertThat(g.isShutdown()).as(what + " was shut down").isFalse();
            assertThat(g.isPaused()).as(what + " is paused").isFalse();
            long w = g.writes();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (g.writes() == w && System.nanoTime() < deadline) {
                Thread.sleep(2);
            }
            assertThat(g.writes()).as(what + " makes progress").isGreaterThan(w);
            g.pause();
            assertThat(SyntheticModel.mismatch(g)).as(what + " memory").isNull();
        } finally {
            g.shutdown();
        }
    }

    @ParameterizedTest(name = "run {0}")
    @MethodSource("killRuns")
    void shouldLeaveTheSourceIntactWhenTheReceiverProcessIsKilled(int run) throws Exception {
        Random r = new Random(run * 104729L + 3);
        long killAt = r.nextInt(4) == 0 ? r.nextInt(256 << 10) : (long) (r.nextDouble() * (12 << 20));
        SyntheticGuest source = SyntheticGuest.create(spec(1000 + run));
        try (D3vmProcess rx = D3vmProcess.start("receive", "--listen", "127.0.0.1:0", "--once", "--read-timeout", "1s")) {
            InetSocketAddress at = new InetSocketAddress(InetAddress.getLoopbackAddress(), rx.listeningPort());
            // Slowed to 20 MiB/s so the kill lands inside the migration, not after it.
            MigrationSender sender = new MigrationSender(source, sendOptions().withMaxBandwidth(20L << 20));
            CompletableFuture<MigrationReport> tx = CompletableFuture.supplyAsync(() -> {
                try {
                    return sender.migrate(new TcpTransport(), at, 5000);
                } catch (MigrationException e) {
                    return null;
                }
            });
            while (!tx.isDone() && sender.progress().bytesSent() < killAt) {
                Thread.sleep(1);
            }
            rx.kill();
            MigrationReport report = tx.get(60, TimeUnit.SECONDS);
            String outcome;
            if (report != null) {
                // The kill came after the ACK: the guest moved, and died with the destination process.
                assertThat(report.digestMatch).isTrue();
                outcome = "completed before the kill";
            } else {
                assertRunningAndTrue(source, "kill@" + killAt + " (source)");
                outcome = "failed safe";
            }
            count("receiver process killed", outcome);
        } finally {
            source.shutdown();
        }
    }

    @ParameterizedTest(name = "run {0}")
    @MethodSource("killRuns")
    void shouldDiscardTheHalfReceivedGuestWhenTheSenderProcessIsKilled(int run) throws Exception {
        Random r = new Random(run * 15485863L + 5);
        long killAt = r.nextInt(4) == 0 ? r.nextInt(256 << 10) : (long) (r.nextDouble() * (12 << 20));
        Destination dest = new Destination();
        try (Listener l = new TcpTransport().listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
             FaultProxy watch = new FaultProxy(l.localAddress(), new FaultProxy.Fault(FaultProxy.Kind.DELAY, Long.MAX_VALUE, 0, 0, 0))) {
            CompletableFuture<Migratable> rx = dest.receiveOnce(l);
            try (D3vmProcess tx = D3vmProcess.start("migrate", "--to", "127.0.0.1:" + watch.address().getPort(), "--guest",
                    spec(2000 + run), "--max-bandwidth", "20M")) {
                while (tx.isAlive() && watch.forwarded() < killAt) {
                    Thread.sleep(1);
                }
                tx.kill();
            }
            Migratable received = rx.get(60, TimeUnit.SECONDS);
            String outcome;
            if (received != null) {
                // Killed after COMPLETE: the destination verified everything and may run the guest.
                assertRunningAndTrue(((Tracked) received).guest, "kill@" + killAt + " (destination)");
                outcome = "completed before the kill";
            } else {
                dest.assertLeftWithNothing();
                outcome = "discarded";
            }
            count("sender process killed", outcome);
        }
    }

    static synchronized void count(String kind, String outcome) {
        COUNTS.computeIfAbsent(kind, k -> new TreeMap<>()).merge(outcome, 1, Integer::sum);
    }

    @AfterAll
    static void report() {
        COUNTS.forEach((k, v) -> System.out.println("fault " + k + ": " + v));
    }
}
