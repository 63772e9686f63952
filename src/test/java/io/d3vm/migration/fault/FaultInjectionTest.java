package io.d3vm.migration.fault;

import io.d3vm.testing.StubGuest;
import io.d3vm.testing.Awaits;
import io.d3vm.testing.D3vmProcess;
import io.d3vm.migration.report.MigrationStatus;
import io.d3vm.migration.MigrationException;
import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.migration.synthetic.SyntheticGuest;
import io.d3vm.migration.recv.HandoverUnconfirmedException;
import io.d3vm.migration.recv.MigrationReceiver;
import io.d3vm.migration.recv.ReceiverLimits;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.send.MigrationSender;
import io.d3vm.migration.send.ByteSavings;
import io.d3vm.migration.send.SendOptions;
import io.d3vm.migration.transport.Connection;
import io.d3vm.migration.transport.Listener;
import io.d3vm.migration.transport.TcpTransport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
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
 * one of these ways, and never with the guest running on both sides:
 * <ul>
 * <li><b>completed</b>: both sides agree on the digest, the destination guest runs, and its memory
 *     equals the {@link SyntheticModel} after the writes it has made (so nothing was lost or torn);</li>
 * <li><b>failed safe</b>: the source guest runs on (its writer makes progress), and once paused its
 *     memory equals the model after its own writes (the migration left no trace); the destination
 *     resumed nothing and discarded every guest it built — or, when it had already sent its
 *     completion ACK (which never reached the source), kept the verified guest paused;</li>
 * <li><b>unconfirmed</b>: the source read the ACK and committed (its guest never runs again) but GO
 *     did not reach the destination, which keeps the verified guest paused, equal to the model:
 *     both paused, nothing lost.</li>
 * </ul>
 * Counts per fault kind and outcome are printed at the end (docs/RELIABILITY.md has a run's table).
 */
class FaultInjectionTest {
    static final int PROXY_RUNS = 56;
    static final int KILL_RUNS = 8;
    static final long STALL_TIMEOUT_MS = 1000;
    static final Map<String, Map<String, Integer>> COUNTS = new TreeMap<>();

    static String spec(int seed) {
        return "synthetic:mem=16M,zero=40,uniform=10,touched-zero=50,dirty-rate=3000,threads=1,duplicate=30,seed=" + seed;
    }

    /** References and compression on: the faults strike DUPLICATE runs and compressed PAGES too. */
    static SendOptions sendOptions() {
        return SendOptions.defaults().withTimeouts(10_000, STALL_TIMEOUT_MS)
                .withSavings(new ByteSavings(ByteSavings.Compress.ZSTD, ByteSavings.Duplicates.ON));
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
        final List<StubGuest> built = new CopyOnWriteArrayList<>();
        final GuestFactories factories = new GuestFactories().register("synthetic", (d, layout) -> {
            StubGuest t = StubGuest.forwarding(SyntheticGuest.createDestination(d, layout));
            built.add(t);
            return t;
        });

        volatile String error; // the receiver's message when it failed without keeping a guest
        final ReceiverLimits limits;

        Destination() {
            this(limits());
        }

        /** The hand-over tests give the receiver time: a stall there would be a different fault than the one aimed at. */
        Destination(ReceiverLimits limits) {
            this.limits = limits;
        }

        CompletableFuture<Received> receiveOnce(Listener l) {
            return CompletableFuture.supplyAsync(() -> {
                MigrationReceiver r = new MigrationReceiver(factories, limits);
                try (Connection c = l.accept()) {
                    return new Received((StubGuest) r.receive(c), null);
                } catch (HandoverUnconfirmedException e) {
                    return new Received(null, (StubGuest) e.guest());
                } catch (MigrationException e) {
                    error = e.getMessage();
                    return new Received(null, null);
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
        }

        /** Nothing left: every guest built was discarded without ever running. */
        void assertLeftWithNothing() {
            assertLeftWithNothingBut(null);
        }

        /** Every guest built but {@code kept} was discarded without ever running. */
        void assertLeftWithNothingBut(StubGuest kept) {
            for (StubGuest t : built) {
                if (t == kept) {
                    continue;
                }
                assertThat(t.resumed).as("a destination guest of a failed migration was resumed").isFalse();
                assertThat(synthetic(t).isShutdown()).as("a half-received guest was not discarded").isTrue();
            }
        }
    }

    /** The synthetic guest a destination stub forwards to. */
    static SyntheticGuest synthetic(StubGuest t) {
        return (SyntheticGuest) t.real();
    }

    /** How a receive ended: a running guest (GO came), a verified paused one (no GO), or neither. */
    record Received(StubGuest running, StubGuest paused) {}


    @ParameterizedTest(name = "run {0}")
    @MethodSource("proxyRuns")
    void shouldCompleteOrLeaveTheSourceIntactWhenTheStreamIsBroken(int run) throws Exception {
        Random r = new Random(run * 7919L + 1);
        FaultProxy.Kind kind = FaultProxy.Kind.values()[run % 4];
        // A quarter of the faults land in the first 64 KiB (setup, first batches), the rest anywhere
        // in the ~10 MiB a migration of this guest sends; some land past its end and never strike.
        long at = r.nextInt(4) == 0 ? r.nextInt(64 << 10) : (long) (r.nextDouble() * (12 << 20));
        FaultProxy.Fault fault = new FaultProxy.Fault(kind, at, 20 + r.nextInt(200), 1 + r.nextInt(4), 1 << r.nextInt(8));
        String outcome = migrateThrough(fault, run, new Destination[1]);
        count(kind.name().toLowerCase() + (outcome.endsWith("(past the end)") ? " (past the end)" : ""),
                outcome.replace(" (past the end)", ""));
    }

    /**
     * The hand-over, cut on purpose: inside the completion ACK (destination to source: the setup ACK
     * is bytes 0..31 of that direction, the sync ACK before the pause 32..63, the completion ACK
     * 64..95), inside the sync ACK (the guest still runs on the source) and inside GO (source to
     * destination, right after every ACK went through).
     * With two messages, the cut inside the ACK left both copies running. A cut inside the ACK ends
     * with the source running and the destination holding a paused copy — or none, when the source's
     * ABORT still reached it (seen now and then on loopback): both are safe, and judge() checks them.
     */
    @ParameterizedTest(name = "{0}@{1}")
    @org.junit.jupiter.params.provider.CsvSource({
            "CUT_BACK, 72, failed safe",
            "CUT_BACK, 82, failed safe",
            "CUT_BACK, 95, failed safe",
            "CUT_BACK, 20, failed safe",
            "CUT_BACK, 40, failed safe",
            "CUT_AFTER_BACK, 96, unconfirmed (both paused)"})
    void shouldNeverRunTwoCopiesWhenTheHandOverIsCut(FaultProxy.Kind kind, long at, String expected) throws Exception {
        Destination[] dest = new Destination[1];
        dest[0] = new Destination(ReceiverLimits.defaults().withReadTimeoutMillis(10_000));
        String outcome = migrateThrough(new FaultProxy.Fault(kind, at, 0, 0, 0), 500 + (int) at, dest);
        assertThat(outcome).as("destination said: %s", dest[0].error).startsWith(expected);
        count("hand-over " + kind.name().toLowerCase() + "@" + at, outcome);
    }

    /**
     * GO cannot be sent (the source's write fails once the destination's completion ACK is out): the
     * source, committed, must not resume; the destination keeps the verified guest paused.
     */
    @org.junit.jupiter.api.Test
    void shouldKeepTheSourcePausedWhenSendingGoFails() throws Exception {
        SyntheticGuest source = SyntheticGuest.create(spec(777));
        Destination dest = new Destination(ReceiverLimits.defaults().withReadTimeoutMillis(10_000));
        java.nio.channels.Pipe toDest = java.nio.channels.Pipe.open();
        java.nio.channels.Pipe toSource = java.nio.channels.Pipe.open();
        java.util.concurrent.atomic.AtomicLong acked = new java.util.concurrent.atomic.AtomicLong();
        // Destination side: counts what it writes back (setup, sync and completion ACK, 32 bytes each).
        Connection destEnd = new PipeEnd(toDest.source(), new java.nio.channels.WritableByteChannel() {
            @Override public int write(java.nio.ByteBuffer b) throws IOException {
                // Counted before the bytes can reach the source: counting after the write let the
                // source read the ACK and send GO before the break took effect (a flaky pass of GO).
                int want = b.remaining();
                acked.addAndGet(want);
                int n = toSource.sink().write(b);
                acked.addAndGet(n - want);
                return n;
            }
            @Override public boolean isOpen() { return toSource.sink().isOpen(); }
            @Override public void close() throws IOException { toSource.sink().close(); }
        }, toSource.sink());
        // Source side: every write after both ACKs went out fails, as on a connection that just broke.
        Connection sourceEnd = new PipeEnd(toSource.source(), new java.nio.channels.WritableByteChannel() {
            @Override public int write(java.nio.ByteBuffer b) throws IOException {
                if (acked.get() >= 96) {
                    throw new IOException("Connection reset by peer (test: broken right after the completion ACK)");
                }
                return toDest.sink().write(b);
            }
            @Override public boolean isOpen() { return toDest.sink().isOpen(); }
            @Override public void close() throws IOException { toDest.sink().close(); }
        }, toDest.sink());
        CompletableFuture<Received> rx = CompletableFuture.supplyAsync(() -> {
            try (destEnd) {
                return new Received((StubGuest) new MigrationReceiver(dest.factories, dest.limits).receive(destEnd), null);
            } catch (HandoverUnconfirmedException e) {
                return new Received(null, (StubGuest) e.guest());
            } catch (MigrationException | IOException e) {
                return new Received(null, null);
            }
        });
        MigrationSender sender = new MigrationSender(source, sendOptions());
        try {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> sender.migrate(sourceEnd))
                    .isInstanceOf(MigrationException.class).hasMessageContaining("hand-over unconfirmed").hasMessageContaining("sending GO failed");
            assertThat(sender.report().status).isEqualTo(MigrationStatus.UNCONFIRMED);
            assertThat(source.isShutdown()).as("the committed source guest is kept, paused").isFalse();
            assertThat(source.isPaused()).as("the source resumed after committing").isTrue();
            Received received = rx.get(60, TimeUnit.SECONDS);
            assertThat(received.running()).isNull();
            assertThat(received.paused()).as("the destination discarded the only verified copy").isNotNull();
            assertPausedAndTrue(received.paused(), "GO write failed (destination)");
            count("hand-over GO write failed", "unconfirmed (both paused)");
        } finally {
            source.shutdown();
        }
    }

    /** One end of two in-memory pipes; closing it closes both of its channels (unblocking the peer). */
    record PipeEnd(java.nio.channels.ReadableByteChannel input, java.nio.channels.WritableByteChannel output,
                   java.nio.channels.Channel sink) implements Connection {
        @Override public String peer() { return "pipe"; }
        @Override public void close() throws IOException {
            input.close();
            sink.close();
        }
    }

    /** The CLI's side of an unconfirmed hand-over: {@code receive --once} never resumes, says so, and exits 3. */
    @org.junit.jupiter.api.Test
    void shouldMakeReceiveExitThreeWithoutResumingWhenGoIsCut() throws Exception {
        SyntheticGuest source = SyntheticGuest.create(spec(888));
        try (D3vmProcess rx = D3vmProcess.startC1("receive", "--listen", "127.0.0.1:0", "--once", "--read-timeout", "10s");
             FaultProxy proxy = new FaultProxy(new InetSocketAddress(InetAddress.getLoopbackAddress(), rx.listeningPort()),
                     new FaultProxy.Fault(FaultProxy.Kind.CUT_AFTER_BACK, 96, 0, 0, 0))) {
            MigrationReport report = new MigrationSender(source, sendOptions()).migrate(new TcpTransport(), proxy.address(), 5000);
            // The source cannot tell GO was lost: it committed and ended its guest.
            assertThat(report.status).isEqualTo(MigrationStatus.COMPLETED);
            assertThat(source.isShutdown()).isTrue();
            assertThat(rx.waitFor(Duration.ofSeconds(30))).isEqualTo(3);
            assertThat(rx.text()).contains("hand-over unconfirmed").contains("kept paused here")
                    .contains("exits now without resuming the guest").doesNotContain("is running here");
            count("hand-over cut inside GO, receive --once process", "exit 3, not resumed");
        } finally {
            source.shutdown();
        }
    }

    /** Migrates a fresh guest through a proxy with {@code fault} and judges the result. */
    static String migrateThrough(FaultProxy.Fault fault, int seed, Destination[] destOut) throws Exception {
        SyntheticGuest source = SyntheticGuest.create(spec(seed));
        Destination dest = destOut[0] == null ? new Destination() : destOut[0];
        destOut[0] = dest;
        try (Listener l = new TcpTransport().listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
             FaultProxy proxy = new FaultProxy(l.localAddress(), fault)) {
            CompletableFuture<Received> rx = dest.receiveOnce(l);
            MigrationSender sender = new MigrationSender(source, sendOptions());
            try {
                sender.migrate(new TcpTransport(), proxy.address(), 5000);
            } catch (MigrationException e) {
                // judged below, from the report
            }
            Received received = rx.get(60, TimeUnit.SECONDS);
            return judge(source, sender.report(), received, dest, fault.toString()) + (proxy.struck() ? "" : " (past the end)");
        }
    }

    /** Checks the run ended in one of the allowed ways, never with two running copies; returns which. */
    static String judge(SyntheticGuest source, MigrationReport report, Received received, Destination dest, String what)
            throws InterruptedException {
        boolean sourceRuns = !source.isShutdown() && !source.isPaused();
        assertThat(sourceRuns && received.running() != null).as(what + ": the guest runs on both sides").isFalse();
        boolean committed = report.status == MigrationStatus.COMPLETED || report.status == MigrationStatus.UNCONFIRMED;
        if (committed) {
            // The source read the positive ACK: its copy never runs again; the destination has the guest.
            assertThat(report.digestMatch).as(what).isTrue();
            assertThat(sourceRuns).as(what + ": the source committed but runs").isFalse();
            source.shutdown();
            if (received.running() != null) {
                assertThat(report.status).as(what).isEqualTo(MigrationStatus.COMPLETED);
                assertRunningAndTrue(synthetic(received.running()), what + " (destination)");
                return "completed";
            }
            assertThat(received.paused()).as(what + ": the source committed but the destination has no guest: the guest is lost")
                    .isNotNull();
            assertPausedAndTrue(received.paused(), what + " (destination)");
            dest.assertLeftWithNothingBut(received.paused());
            return "unconfirmed (both paused)";
        }
        assertThat(received.running()).as(what + ": the destination runs the guest but the source resumed too: two copies").isNull();
        dest.assertLeftWithNothingBut(received.paused());
        assertRunningAndTrue(source, what + " (source)");
        if (received.paused() != null) {
            // The ACK was sent but never read: the source runs on; the destination, not knowing, kept its copy paused.
            assertPausedAndTrue(received.paused(), what + " (destination)");
            return "failed safe (destination kept it paused)";
        }
        return "failed safe";
    }

    /** A destination guest kept paused without GO: never resumed, not discarded, equal to the model; then shut down. */
    static void assertPausedAndTrue(StubGuest t, String what) {
        try {
            assertThat(t.resumed).as(what + " was resumed without GO").isFalse();
            assertThat(synthetic(t).isShutdown()).as(what + " was discarded after the ACK").isFalse();
            assertThat(SyntheticModel.mismatch(synthetic(t))).as(what + " memory").isNull();
        } finally {
            synthetic(t).shutdown();
        }
    }

    /** The guest runs (its writer progresses); paused, its memory equals the model; then it is shut down. */
    static void assertRunningAndTrue(SyntheticGuest g, String what) throws InterruptedException {
        try {
            assertThat(g.isShutdown()).as(what + " was shut down").isFalse();
            assertThat(g.isPaused()).as(what + " is paused").isFalse();
            Awaits.advances(what + "'s writes", g::writes);
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
        try (D3vmProcess rx = D3vmProcess.startC1("receive", "--listen", "127.0.0.1:0", "--once", "--read-timeout", "1s")) {
            InetSocketAddress at = new InetSocketAddress(InetAddress.getLoopbackAddress(), rx.listeningPort());
            // Slowed to 20 MiB/s so the kill lands inside the migration, not after it.
            MigrationSender sender = new MigrationSender(source, sendOptions().withMaxBandwidth(20L << 20));
            CompletableFuture<MigrationReport> tx = CompletableFuture.supplyAsync(() -> {
                try {
                    return sender.migrate(new TcpTransport(), at, 5000);
                } catch (MigrationException e) {
                    return sender.report();
                }
            });
            Awaits.until(killAt + " bytes sent", () -> tx.isDone() || sender.progress().bytesSent() >= killAt);
            rx.kill();
            MigrationReport report = tx.get(60, TimeUnit.SECONDS);
            String outcome;
            if (report.status == MigrationStatus.COMPLETED || report.status == MigrationStatus.UNCONFIRMED) {
                // The kill came after the ACK: the source committed (never resumes); the guest died with the destination process.
                assertThat(report.digestMatch).isTrue();
                assertThat(!source.isShutdown() && !source.isPaused()).as("a committed source runs").isFalse();
                outcome = report.status == MigrationStatus.COMPLETED ? "completed before the kill" : "committed, GO failed";
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
            CompletableFuture<Received> rx = dest.receiveOnce(l);
            try (D3vmProcess tx = D3vmProcess.startC1("migrate", "--to", "127.0.0.1:" + watch.address().getPort(), "--guest",
                    spec(2000 + run), "--max-bandwidth", "20M")) {
                Awaits.until(killAt + " bytes forwarded", () -> !tx.isAlive() || watch.forwarded() >= killAt);
                tx.kill();
            }
            Received received = rx.get(60, TimeUnit.SECONDS);
            String outcome;
            if (received.running() != null) {
                // Killed after GO: the destination verified everything and runs the guest.
                assertRunningAndTrue(synthetic(received.running()), "kill@" + killAt + " (destination)");
                outcome = "completed before the kill";
            } else if (received.paused() != null) {
                // Killed after COMPLETE but before GO: acknowledged, so kept paused, not run, not discarded.
                dest.assertLeftWithNothingBut(received.paused());
                assertPausedAndTrue(received.paused(), "kill@" + killAt + " (destination)");
                outcome = "acknowledged, no GO: kept paused";
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
