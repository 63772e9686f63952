package io.d3vm.migration.send;

import io.d3vm.testing.StubGuest;
import io.d3vm.testing.Awaits;
import io.d3vm.migration.report.MigrationStatus;
import io.d3vm.migration.MigrationException;
import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.migration.synthetic.SyntheticGuest;
import io.d3vm.migration.recv.MigrationReceiver;
import io.d3vm.migration.recv.ReceiveStats;
import io.d3vm.migration.recv.ReceiverLimits;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.transport.Connection;
import io.d3vm.migration.transport.Listener;
import io.d3vm.migration.transport.TcpTransport;
import io.d3vm.migration.wire.AckStage;
import io.d3vm.migration.wire.FrameBuffer;
import io.d3vm.migration.wire.FrameDecoder;
import io.d3vm.migration.wire.FrameType;
import io.d3vm.migration.wire.Wire;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Whole migrations between a sender and a receiver in this JVM, over real loopback TCP. */
class LoopbackMigrationTest {
    static final String GUEST = "synthetic:mem=32M,zero=70,uniform=10,dirty-rate=2000,seed=7";
    final TcpTransport tcp = new TcpTransport();

    record Received(Migratable guest, ReceiveStats stats, MigrationException error) {}

    static CompletableFuture<Received> receiveOnce(Listener l, GuestFactories f) {
        return receiveOnce(l, f, ReceiverLimits.defaults().withReadTimeoutMillis(10_000));
    }

    /** Receives one migration from {@code l} on another thread: the guest, the stats, or the receiver's error. */
    static CompletableFuture<Received> receiveOnce(Listener l, GuestFactories f, ReceiverLimits limits) {
        return CompletableFuture.supplyAsync(() -> {
            MigrationReceiver r = new MigrationReceiver(f, limits);
            try (Connection c = l.accept()) {
                return new Received(r.receive(c), r.stats(), null);
            } catch (MigrationException e) {
                return new Received(null, r.stats(), e);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
    }

    private static InetSocketAddress loopback() throws Exception {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    }

    private MigrationReport migrate(String guestSpec, String detector, Received[] out) throws Exception {
        try (Listener l = tcp.listen(loopback())) {
            var rx = receiveOnce(l, SyntheticGuest.register(new GuestFactories()));
            SyntheticGuest g = SyntheticGuest.create(guestSpec);
            // Detectors compared alone: no compression or references on top of what each sends.
            MigrationReport rep = new MigrationSender(g, SendOptions.defaults().withDetector(detector).withSavings(ByteSavings.none()))
                    .migrate(tcp, l.localAddress(), 5000);
            out[0] = rx.get(60, TimeUnit.SECONDS);
            assertThat(g.isShutdown()).as("source ends only after the ACK").isTrue();
            return rep;
        }
    }

    @Test
    void shouldMigrateARunningSyntheticGuestAndKeepItWritingOnTheDestination() throws Exception {
        Received[] rx = new Received[1];
        MigrationReport rep = migrate(GUEST, "d3", rx);
        assertThat(rx[0].error()).isNull();
        assertThat(rep.status).isEqualTo(MigrationStatus.COMPLETED);
        assertThat(rep.digestMatch).isTrue();
        assertThat(rx[0].stats().digest).isEqualTo(rep.digest);
        assertThat(rep.rounds).hasSizeGreaterThanOrEqualTo(2);
        assertThat(rep.pagesByClass[1] + rep.pagesByClass[3]).as("zero and unpopulated pages cross as metadata").isPositive();
        SyntheticGuest dest = (SyntheticGuest) rx[0].guest();
        try {
            assertThat(dest.isPaused()).isFalse();
            assertThat(dest.writes()).as("writer state crossed with the saved state").isPositive();
            Awaits.advances("the destination's writers after resume", dest::writes);
        } finally {
            dest.shutdown();
        }
    }

    @Test
    void shouldSendFarLessWithD3ThanWithoutDetection() throws Exception {
        String still = "synthetic:mem=32M,zero=70,uniform=10,seed=3";
        Received[] rx = new Received[1];
        MigrationReport none = migrate(still, "none", rx);
        rx[0].guest().shutdown();
        MigrationReport d3 = migrate(still, "d3", rx);
        rx[0].guest().shutdown();
        assertThat(none.digestMatch).isTrue();
        assertThat(d3.digestMatch).isTrue();
        assertThat(none.ramTransferred).isGreaterThanOrEqualTo(32L << 20);
        assertThat(d3.ramTransferred).isLessThan(none.ramTransferred * 35 / 100);
    }

    @Test
    void shouldKeepTheSourceRunningIntactWhenTheDestinationAbortsMidStream() throws Exception {
        SyntheticGuest g = SyntheticGuest.create("synthetic:mem=16M,zero=50,uniform=10,seed=5");
        long before = g.digest();
        try (Listener l = tcp.listen(loopback())) {
            // A destination that accepts the setup, reads some pages, then gives up with a reason.
            var fake = CompletableFuture.runAsync(() -> {
                try (Connection c = l.accept()) {
                    FrameDecoder in = new FrameDecoder(c.input(), Wire.DEFAULT_MAX_FRAME);
                    in.next();
                    in.accept(in.readHandshake().features());
                    in.next();
                    in.readLayout();
                    FrameBuffer out = new FrameBuffer(FrameBuffer.MIN_CAPACITY);
                    out.ack(AckStage.SETUP, true, 0, "");
                    out.writeTo(c.output());
                    assertThat(in.next()).isEqualTo(FrameType.PAGES);
                    out.abort("disk full on the destination");
                    out.writeTo(c.output());
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            MigrationSender s = new MigrationSender(g, SendOptions.defaults().withDetector("none"));
            assertThatThrownBy(() -> s.migrate(tcp, l.localAddress(), 5000))
                    .isInstanceOf(MigrationException.class)
                    .hasMessageContaining("keeps running here");
            fake.get(10, TimeUnit.SECONDS);
            assertThat(s.report().status).isEqualTo(MigrationStatus.FAILED);
        }
        assertThat(g.isShutdown()).isFalse();
        assertThat(g.isPaused()).isFalse();
        assertThat(g.digest()).isEqualTo(before);
        g.shutdown();
    }

    @Test
    void shouldResumeTheSourceWhenTheDestinationRefusesTheCompletion() throws Exception {
        SyntheticGuest g = SyntheticGuest.create("synthetic:mem=8M,zero=50,uniform=10,dirty-rate=1000,seed=9");
        // The destination's guest cannot take the state: the receiver refuses after COMPLETE.
        GuestFactories f = new GuestFactories().register("synthetic", (d, layout) -> {
            SyntheticGuest dg = SyntheticGuest.createDestination(d, layout);
            return new StubGuest(dg) {
                @Override
                public void restoreState(byte[] state) {
                    throw new IllegalArgumentException("state from the future");
                }
            };
        });
        try (Listener l = tcp.listen(loopback())) {
            var rx = receiveOnce(l, f);
            MigrationSender s = new MigrationSender(g, SendOptions.defaults());
            assertThatThrownBy(() -> s.migrate(tcp, l.localAddress(), 5000))
                    .hasMessageContaining("refused the completed migration: cannot restore the guest's state: state from the future");
            assertThat(rx.get(30, TimeUnit.SECONDS).error()).hasMessageContaining("state from the future");
        }
        assertThat(g.isPaused()).isFalse();
        Awaits.advances("the source guest's writes (it runs on)", g::writes);
        g.shutdown();
    }

    @Test
    void shouldSayWhatToStartWhenNobodyListens() throws Exception {
        int port;
        try (Listener l = tcp.listen(loopback())) {
            port = l.localAddress().getPort();
        }
        SyntheticGuest g = SyntheticGuest.create("synthetic:mem=1M");
        try {
            assertThatThrownBy(() -> new MigrationSender(g, SendOptions.defaults())
                    .migrate(tcp, new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 2000))
                    .hasMessageContaining("connection refused (is `d3vm receive --listen");
            assertThat(g.isPaused()).isFalse();
        } finally {
            g.shutdown();
        }
    }

}
