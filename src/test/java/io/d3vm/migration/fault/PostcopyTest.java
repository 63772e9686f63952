package io.d3vm.migration.fault;

import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.MigrationException;
import io.d3vm.migration.recv.MigrationReceiver;
import io.d3vm.migration.recv.PostcopyPausedException;
import io.d3vm.migration.recv.ReceiveStats;
import io.d3vm.migration.recv.ReceiverLimits;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.report.MigrationStatus;
import io.d3vm.migration.report.PostcopyRecord;
import io.d3vm.migration.send.MigrationSender;
import io.d3vm.migration.send.SendOptions;
import io.d3vm.migration.send.StopReason;
import io.d3vm.migration.synthetic.SyntheticGuest;
import io.d3vm.migration.transport.Connection;
import io.d3vm.migration.transport.Listener;
import io.d3vm.migration.transport.TcpTransport;
import io.d3vm.testing.Awaits;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;


import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Post-copy end to end on loopback with synthetic guests, whose memory an independent model
 * ({@link SyntheticModel}) recomputes: the destination's guest runs before the pages it dirtied last
 * have arrived, faults on them (served from the source on REQUEST, or zero-filled locally when the
 * source never had content for them), and ends with exactly the memory the writer's sequence gives.
 */
class PostcopyTest {
    /** 24 MiB rewritten at 50000 pages/s (195 MiB/s) against a 20 MB/s link: every pause would take over a second. */
    static final String RACING = "synthetic:mem=32M,zero=20,uniform=10,dirty-rate=50000,wss=24M,seed=9";
    static final long LINK = 20_000_000;
    private final TcpTransport tcp = new TcpTransport();

    record Received(SyntheticGuest guest, ReceiveStats stats, Exception error) {}

    /** One migration received on {@code l} into a synthetic guest; the receive's outcome, never thrown (SavingsMigrationTest uses it too). */
    static CompletableFuture<Received> receiveOnce(Listener l) {
        return CompletableFuture.supplyAsync(() -> {
            MigrationReceiver r = new MigrationReceiver(SyntheticGuest.register(new GuestFactories()),
                    ReceiverLimits.defaults().withReadTimeoutMillis(20_000));
            try (Connection c = l.accept()) {
                return new Received((SyntheticGuest) r.receive(c), r.stats(), null);
            } catch (Exception e) {
                return new Received(null, r.stats(), e);
            }
        }, runnable -> Thread.ofPlatform().daemon().start(runnable));
    }

    private MigrationReport migrate(SyntheticGuest g, SendOptions options, Received[] out) throws Exception {
        try (Listener l = tcp.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            var rx = receiveOnce(l);
            MigrationReport rep = new MigrationSender(g, options).migrate(tcp, l.localAddress(), 5000);
            out[0] = rx.get(60, TimeUnit.SECONDS);
            return rep;
        }
    }

    @Test
    void shouldFinishAGuestThatOutrunsTheLinkWithPostcopyInsteadOfFailing() throws Exception {
        SyntheticGuest g = SyntheticGuest.create(RACING);
        Received[] rx = new Received[1];
        // The stream after GO at the link's rate too: it lasts over a second, so the writer is sure to fault.
        MigrationReport rep = migrate(g, SendOptions.defaults().withMaxBandwidth(LINK).withPostcopy(SendOptions.POSTCOPY_WHEN_STUCK)
                .withMaxPostcopyBandwidth(LINK), rx);
        assertThat(rx[0].error()).isNull();
        assertThat(rep.status).isEqualTo(MigrationStatus.COMPLETED);
        assertThat(rep.stopReason).isIn(StopReason.NO_PROGRESS.text(), StopReason.MAX_ROUNDS.text());
        assertThat(rep.digestMatch).isTrue();
        assertThat(rep.auditMatch).as("the paused source's whole memory equals what the destination was given").isTrue();
        PostcopyRecord sent = rep.postcopy;
        assertThat(sent).isNotNull();
        assertThat(sent.pages()).as("the pages dirtied last went after GO").isPositive();
        PostcopyRecord got = rx[0].stats().postcopy;
        assertThat(got.pages()).isEqualTo(sent.pages());
        assertThat(got.faultsRemote()).as("the writer touched pages still on their way").isPositive();
        assertThat(sent.requests()).isEqualTo(got.faultsRemote());
        assertThat(got.latencyP99Us()).isNotNull().isPositive();
        assertThat(rep.downtimeUs).as("the pause holds no pages").isLessThan(rep.downtimeLimitUs);
        assertThat(g.isShutdown()).isTrue();

        SyntheticGuest dest = rx[0].guest();
        long w = dest.writes();
        Awaits.advances("the destination's writer", dest::writes);
        dest.pause();
        assertThat(dest.writes()).isGreaterThan(w);
        assertThat(SyntheticModel.mismatch(dest)).as("destination memory after post-copy and more writes").isNull();
        dest.shutdown();
    }

    @Test
    void shouldSwitchToPostcopyAfterTheRoundsAskedFor() throws Exception {
        SyntheticGuest g = SyntheticGuest.create(RACING);
        Received[] rx = new Received[1];
        MigrationReport rep = migrate(g, SendOptions.defaults().withMaxBandwidth(LINK).withPostcopy(2), rx);
        assertThat(rx[0].error()).isNull();
        assertThat(rep.status).isEqualTo(MigrationStatus.COMPLETED);
        assertThat(rep.stopReason).isEqualTo(StopReason.POSTCOPY_AFTER.text());
        assertThat(rep.rounds).hasSize(3);
        assertThat(rep.digestMatch).isTrue();
        assertThat(rep.auditMatch).isTrue();
        SyntheticGuest dest = rx[0].guest();
        dest.pause();
        assertThat(SyntheticModel.mismatch(dest)).isNull();
        dest.shutdown();
    }

    /**
     * The connection cut inside post-copy (the destination-to-source stream carries four 32-byte
     * ACKs — setup, two syncs, post-copy — then one 16-byte REQUEST per remote fault: the back stream is cut inside the first or
     * the second REQUEST, or the forward stream inside the pages that follow the first): nothing is lost. The source keeps its guest paused, never resumed, with
     * exactly the memory the model gives for its writes; the destination keeps the guest that ran
     * there, with the pages it got, and says so.
     */
    @ParameterizedTest
    @ValueSource(strings = {"CUT_BACK@132", "CUT_BACK@142", "CUT_BACK@152", "CUT_AFTER_BACK@144"})
    void shouldKeepBothHalvesWhenTheConnectionBreaksDuringPostcopy(String where) throws Exception {
        FaultProxy.Kind kind = FaultProxy.Kind.valueOf(where.substring(0, where.indexOf('@')));
        long cutAt = Long.parseLong(where.substring(where.indexOf('@') + 1));
        SyntheticGuest g = SyntheticGuest.create(RACING.replace("seed=9", "threads=1,seed=9"));
        try (Listener l = tcp.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
             FaultProxy proxy = new FaultProxy(l.localAddress(), new FaultProxy.Fault(kind, cutAt, 0, 0, 0))) {
            var rx = receiveOnce(l);
            MigrationSender sender = new MigrationSender(g, SendOptions.defaults().withMaxBandwidth(LINK).withPostcopy(1)
                    .withMaxPostcopyBandwidth(LINK)); // a post-copy of a second or more: REQUESTs are sure to come
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> sender.migrate(tcp, proxy.address(), 5000))
                    .isInstanceOf(MigrationException.class).hasMessageContaining("post-copy interrupted");
            MigrationReport rep = sender.report();
            assertThat(rep.status).isEqualTo(MigrationStatus.POSTCOPY_PAUSED);
            assertThat(g.isShutdown()).as("the source keeps its half").isFalse();
            assertThat(g.isPaused()).as("and never runs it again").isTrue();
            assertThat(SyntheticModel.mismatch(g)).as("source memory, as at the pause").isNull();

            Received r = rx.get(60, TimeUnit.SECONDS);
            assertThat(r.error()).isInstanceOf(PostcopyPausedException.class).hasMessageContaining("post-copy interrupted")
                    .hasMessageContaining("do not stop");
            PostcopyPausedException held = (PostcopyPausedException) r.error();
            SyntheticGuest dest = (SyntheticGuest) held.guest();
            assertThat(dest.isShutdown()).as("the destination keeps the guest that ran there").isFalse();
            assertThat(held.held().missingPages()).isLessThanOrEqualTo(rep.postcopy == null ? Long.MAX_VALUE : rep.postcopy.pages());
            held.held().discard();
            g.shutdown();
        }
    }

    /**
     * The recovery: the connection cut at five points inside post-copy, then the source
     * resumes ({@link MigrationSender#resume}) over a new connection to the destination that holds
     * the guest: it asks for exactly the pages it lacks, they arrive, the digest and the source's
     * audit match, and the destination's guest, after more writes, holds exactly the model's memory.
     */
    @ParameterizedTest
    @ValueSource(strings = {"CUT_BACK@132", "CUT_BACK@142", "CUT_BACK@152", "CUT_AFTER_BACK@144", "CUT_AFTER_BACK@160"})
    void shouldFinishAnInterruptedPostcopyWhenTheSourceResumes(String where) throws Exception {
        FaultProxy.Kind kind = FaultProxy.Kind.valueOf(where.substring(0, where.indexOf('@')));
        long cutAt = Long.parseLong(where.substring(where.indexOf('@') + 1));
        SyntheticGuest g = SyntheticGuest.create(RACING);
        try (Listener l = tcp.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
             FaultProxy proxy = new FaultProxy(l.localAddress(), new FaultProxy.Fault(kind, cutAt, 0, 0, 0))) {
            var rx = receiveOnce(l);
            MigrationSender sender = new MigrationSender(g, SendOptions.defaults().withMaxBandwidth(LINK).withPostcopy(1)
                    .withMaxPostcopyBandwidth(LINK));
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> sender.migrate(tcp, proxy.address(), 5000))
                    .hasMessageContaining("post-copy interrupted");
            Received first = rx.get(60, TimeUnit.SECONDS);
            assertThat(first.error()).isInstanceOf(PostcopyPausedException.class);
            io.d3vm.migration.recv.HeldPostcopy held = ((PostcopyPausedException) first.error()).held();
            long lacking = held.missingPages();

            CompletableFuture<Object> resumed = CompletableFuture.supplyAsync(() -> {
                try (Connection c = l.accept()) {
                    return held.resume(c);
                } catch (Exception e) {
                    return e;
                }
            }, runnable -> Thread.ofPlatform().daemon().start(runnable));
            MigrationReport rep = sender.resume(tcp, l.localAddress(), 5000);
            Object dest = resumed.get(60, TimeUnit.SECONDS);
            assertThat(dest).as("the destination's outcome").isInstanceOf(SyntheticGuest.class);
            assertThat(rep.status).isEqualTo(MigrationStatus.COMPLETED);
            assertThat(rep.digestMatch).isTrue();
            assertThat(rep.auditMatch).as("the source's whole paused memory equals what the destination was given").isTrue();
            assertThat(rep.rounds.getLast().pages()).as("the resumed stream sent what the destination lacked").isEqualTo(lacking);
            assertThat(g.isShutdown()).isTrue();
            SyntheticGuest d = (SyntheticGuest) dest;
            Awaits.advances("the destination's writer, resumed", d::writes);
            d.pause();
            assertThat(SyntheticModel.mismatch(d)).as("destination memory after the resumed post-copy").isNull();
            d.shutdown();
        }
    }
}
