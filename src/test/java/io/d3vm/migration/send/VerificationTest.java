package io.d3vm.migration.send;

import io.d3vm.testing.StubGuest;
import io.d3vm.memory.DirtyBitmap;
import io.d3vm.memory.MemoryDigest;
import io.d3vm.migration.MigrationException;
import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.synthetic.SyntheticGuest;
import io.d3vm.migration.recv.ReceiverLimits;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.report.MigrationStatus;
import io.d3vm.migration.transport.Listener;
import io.d3vm.migration.transport.TcpTransport;
import org.junit.jupiter.api.Test;

import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * What each {@code --verify} mode proves, shown with a fault the engine cannot see: a write to the
 * source's memory that the dirty log misses (injected by a guest adapter after round 1).
 */
class VerificationTest {
    private static final String GUEST = "synthetic:mem=16M,zero=60,uniform=10,seed=11";
    /** A populated page written in round 1: the missed write changes content the destination already holds. */
    private static final long MISSED_PAGE = 4000;
    private final TcpTransport tcp = new TcpTransport();

    /** A synthetic guest that, after the first dirty-log collection, gets one word written that no log reports. */
    static final class MissedWriteGuest extends StubGuest {
        final SyntheticGuest inner;
        private int collections;

        MissedWriteGuest(SyntheticGuest inner) {
            super(inner);
            this.inner = inner;
        }

        @Override
        public void collectDirtyPages(DirtyBitmap into) {
            inner.collectDirtyPages(into);
            if (++collections == 1) {
                // SAFETY: MISSED_PAGE is inside the 16 MiB guest; the write bypasses the guest's dirty tracking on purpose.
                inner.memory().page(MISSED_PAGE).set(ValueLayout.JAVA_LONG_UNALIGNED, 64, 0x5eed_f00d_dead_beefL);
            }
        }
    }

    private static CompletableFuture<LoopbackMigrationTest.Received> receiveOnce(Listener l, ReceiverLimits limits) {
        return LoopbackMigrationTest.receiveOnce(l, SyntheticGuest.register(new GuestFactories()), limits);
    }

    private static InetSocketAddress loopback() {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    }

    @Test
    void shouldPassTheGateButFailTheAuditWhenTheDirtyLogMissesAWrite() throws Exception {
        MissedWriteGuest g = new MissedWriteGuest(SyntheticGuest.create(GUEST));
        try (Listener l = tcp.listen(loopback())) {
            var rx = receiveOnce(l, ReceiverLimits.defaults());
            MigrationSender s = new MigrationSender(g, SendOptions.defaults());
            assertThatThrownBy(() -> s.migrate(tcp, l.localAddress(), 5000))
                    .isInstanceOf(AuditMismatchException.class).hasMessageContaining("audit mismatch");
            LoopbackMigrationTest.Received r = rx.get(60, TimeUnit.SECONDS);
            MigrationReport rep = s.report();
            assertThat(r.error()).isNull();
            assertThat(rep.status).isEqualTo(MigrationStatus.COMPLETED);
            assertThat(rep.digestMatch).as("the gate: the destination holds exactly what was sent").isTrue();
            assertThat(rep.auditMatch).as("the audit: what was sent is not what the source holds").isFalse();
            assertThat(rep.error).contains("audit mismatch");
            assertThat(g.inner.isShutdown()).as("the source keeps its paused copy for the operator").isFalse();
            assertThat(g.inner.isPaused()).isTrue();
            assertThat(MemoryDigest.compute(r.guest().memory(), 1)).isEqualTo(r.stats().digest).isNotEqualTo(g.inner.digest());
            r.guest().shutdown();
        } finally {
            g.shutdown();
        }
    }

    @Test
    void shouldRefuseUnderStrictWhenTheDirtyLogMissesAWriteAndResumeTheSource() throws Exception {
        MissedWriteGuest g = new MissedWriteGuest(SyntheticGuest.create(GUEST));
        try (Listener l = tcp.listen(loopback())) {
            var rx = receiveOnce(l, ReceiverLimits.defaults());
            MigrationSender s = new MigrationSender(g, SendOptions.defaults().withVerify(Verify.STRICT));
            assertThatThrownBy(() -> s.migrate(tcp, l.localAddress(), 5000)).isInstanceOf(MigrationException.class)
                    .hasMessageContaining("digest mismatch");
            LoopbackMigrationTest.Received r = rx.get(60, TimeUnit.SECONDS);
            assertThat(r.error()).isNotNull();
            assertThat(r.guest()).isNull();
            assertThat(s.report().status).isEqualTo(MigrationStatus.FAILED);
            assertThat(s.report().digestMatch).isFalse();
            assertThat(g.inner.isPaused()).as("the source resumed").isFalse();
            assertThat(g.inner.isShutdown()).isFalse();
        } finally {
            g.shutdown();
        }
    }

    @Test
    void shouldMatchGateAndAuditOnAnHonestGuestInEveryVerifyingMode() throws Exception {
        for (Verify v : new Verify[] {Verify.INCREMENTAL, Verify.STRICT}) {
            SyntheticGuest g = SyntheticGuest.create("synthetic:mem=16M,zero=60,uniform=10,dirty-rate=2000,seed=12");
            try (Listener l = tcp.listen(loopback())) {
                var rx = receiveOnce(l, ReceiverLimits.defaults());
                MigrationReport rep = new MigrationSender(g, SendOptions.defaults().withVerify(v)).migrate(tcp, l.localAddress(), 5000);
                LoopbackMigrationTest.Received r = rx.get(60, TimeUnit.SECONDS);
                assertThat(r.error()).as(v.json()).isNull();
                assertThat(rep.digestMatch).as(v.json()).isTrue();
                assertThat(rep.auditMatch).as(v.json()).isTrue();
                assertThat(rep.verify).isEqualTo(v.json());
                assertThat(rep.downtimePhasesUs).as(v.json()).containsKeys("pause", "final-sync", "final-pass", "state-save", "flush",
                        "complete-to-ack", "go");
                assertThat(r.stats().phasesUs).containsKeys("last-page-to-state", "digest", "state-restore", "ack", "go-to-running");
                r.guest().shutdown();
            }
        }
    }

    @Test
    void shouldRefuseAnUnverifiedSourceUnlessTheReceiverAllowsIt() throws Exception {
        SyntheticGuest g = SyntheticGuest.create(GUEST);
        try (Listener l = tcp.listen(loopback())) {
            var rx = receiveOnce(l, ReceiverLimits.defaults());
            assertThatThrownBy(() -> new MigrationSender(g, SendOptions.defaults().withVerify(Verify.OFF)).migrate(tcp, l.localAddress(), 5000))
                    .hasMessageContaining("--allow-unverified");
            assertThat(rx.get(60, TimeUnit.SECONDS).error()).isNotNull();
            assertThat(g.isPaused()).isFalse();
        }
        try (Listener l = tcp.listen(loopback())) {
            var rx = receiveOnce(l, ReceiverLimits.defaults().withAllowUnverified(true));
            MigrationReport rep = new MigrationSender(g, SendOptions.defaults().withVerify(Verify.OFF)).migrate(tcp, l.localAddress(), 5000);
            LoopbackMigrationTest.Received r = rx.get(60, TimeUnit.SECONDS);
            assertThat(rep.status).isEqualTo(MigrationStatus.COMPLETED);
            assertThat(rep.digestMatch).isNull();
            assertThat(rep.auditMatch).isNull();
            r.guest().shutdown();
        }
    }
}
