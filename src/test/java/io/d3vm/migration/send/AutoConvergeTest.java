package io.d3vm.migration.send;

import io.d3vm.migration.MigrationException;
import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.report.MigrationStatus;
import io.d3vm.migration.report.RoundRecord;
import io.d3vm.migration.synthetic.SyntheticGuest;
import io.d3vm.migration.transport.Listener;
import io.d3vm.migration.transport.TcpTransport;
import io.d3vm.testing.Awaits;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A guest that dirties memory ten times faster than the link carries it never converges: without
 * {@code --auto-converge} the migration fails cleanly (the downtime limit is honoured and the guest
 * runs on here); with it the guest is throttled round by round until the rest fits the pause.
 */
class AutoConvergeTest {
    /** 8 MiB rewritten at 50000 pages/s (195 MiB/s) against a 20 MB/s link. */
    static final String GUEST = "synthetic:mem=32M,zero=20,uniform=0,dirty-rate=50000,wss=8M,seed=9";
    static final long LINK = 20_000_000;
    private final TcpTransport tcp = new TcpTransport();

    private static InetSocketAddress loopback() {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    }

    @Test
    void shouldFailCleanlyInsteadOfAPauseFarPastTheLimitWhenPreCopyCannotConverge() throws Exception {
        try (Listener l = tcp.listen(loopback())) {
            var rx = LoopbackMigrationTest.receiveOnce(l, SyntheticGuest.register(new GuestFactories()));
            SyntheticGuest g = SyntheticGuest.create(GUEST);
            MigrationSender sender = new MigrationSender(g, SendOptions.defaults().withMaxBandwidth(LINK));
            assertThatThrownBy(() -> sender.migrate(tcp, l.localAddress(), 5000)).isInstanceOf(MigrationException.class)
                    .hasMessageContaining("pre-copy did not converge").hasMessageContaining("--auto-converge")
                    .hasMessageContaining("--allow-long-downtime").hasMessageEndingWith(MigrationSender.GUEST_KEEPS_RUNNING);
            MigrationReport rep = sender.report();
            assertThat(rep.status).isEqualTo(MigrationStatus.FAILED);
            assertThat(rep.stopReason).isIn(StopReason.NO_PROGRESS.text(), StopReason.MAX_ROUNDS.text());
            assertThat(rep.downtimeUs).as("the guest was never paused for it").isNull();
            assertThat(rx.get(60, TimeUnit.SECONDS).error()).as("the destination discarded its copy").isNotNull();
            assertThat(g.isPaused()).isFalse();
            Awaits.advances("the source guest's writes (it runs on)", g::writes);
            g.shutdown();
        }
    }

    @Test
    void shouldThrottleTheGuestUntilTheRestFitsThePause() throws Exception {
        try (Listener l = tcp.listen(loopback())) {
            var rx = LoopbackMigrationTest.receiveOnce(l, SyntheticGuest.register(new GuestFactories()));
            SyntheticGuest g = SyntheticGuest.create(GUEST);
            MigrationReport rep = new MigrationSender(g, SendOptions.defaults().withMaxBandwidth(LINK).withConvergence(true, false))
                    .migrate(tcp, l.localAddress(), 5000);
            var received = rx.get(60, TimeUnit.SECONDS);
            assertThat(received.error()).isNull();
            assertThat(rep.status).isEqualTo(MigrationStatus.COMPLETED);
            assertThat(rep.stopReason).isEqualTo(StopReason.CONVERGED.text());
            assertThat(rep.digestMatch).isTrue();
            assertThat(rep.downtimeUs).as("within the limit").isLessThanOrEqualTo(rep.downtimeLimitUs + 100_000);
            // QEMU's steps: 0, then 20, +10 per stalled round, at most 99; never back down.
            int prev = 0;
            for (RoundRecord r : rep.rounds.subList(0, rep.rounds.size() - 1)) {
                int p = r.throttlePercent();
                assertThat(p).as("round %d", r.round()).isIn(prev, prev == 0 ? 20 : Math.min(99, prev + 10));
                prev = p;
            }
            assertThat(rep.cpuThrottlePercentage()).as("the brake it took").isGreaterThanOrEqualTo(ConvergencePolicy.THROTTLE_INITIAL);
            assertThat(rep.throttleTimeUs).isPositive();
            assertThat(MigrationReport.fromJson(new com.fasterxml.jackson.databind.ObjectMapper().readTree(rep.toJsonString()))
                    .cpuThrottlePercentage()).isEqualTo(rep.cpuThrottlePercentage());
            SyntheticGuest dest = (SyntheticGuest) received.guest();
            assertThat(dest.throttlePercent()).as("the destination runs at full speed").isZero();
            Awaits.advances("the destination's writers", dest::writes);
            dest.shutdown();
        }
    }
}
