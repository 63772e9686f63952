package io.d3vm.vmm.vstate;

import io.d3vm.migration.report.MigrationStatus;
import io.d3vm.kvm.KvmTestSupport;
import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.migration.recv.MigrationReceiver;
import io.d3vm.migration.recv.ReceiverLimits;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.send.MigrationSender;
import io.d3vm.migration.send.SendOptions;
import io.d3vm.migration.transport.Connection;
import io.d3vm.migration.transport.Listener;
import io.d3vm.migration.transport.TcpTransport;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/** A running KVM test guest migrated by the engine (sender + receiver) over loopback TCP. */
@Tag("kvm")
class KvmLoopbackMigrationTest {
    static final Duration WAIT = Duration.ofSeconds(60);

    @Test
    void shouldMigrateARunningVerifyGuestThatKeepsTickingAndVerifyingOnTheDestination() throws Exception {
        TestGuestSupport.image();
        ConsoleCapture srcConsole = new ConsoleCapture();
        ConsoleCapture dstConsole = new ConsoleCapture();
        KvmGuestFactory srcFactory = new KvmGuestFactory(KvmTestSupport.kvm(), 1, srcConsole);
        GuestFactories dstFactories = new GuestFactories()
                .register("test", new KvmGuestFactory(KvmTestSupport.kvm(), 1, dstConsole));
        TcpTransport tcp = new TcpTransport();
        try (Listener l = tcp.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            CompletableFuture<Migratable> rx = CompletableFuture.supplyAsync(() -> {
                try (Connection c = l.accept()) {
                    return new MigrationReceiver(dstFactories, ReceiverLimits.defaults().withReadTimeoutMillis(20_000)).receive(c);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            Vm src = srcFactory.bootSource("test:verify,mem=64M,seed=3,tick-ms=200");
            srcConsole.await("d3guest: verify pass=\\d+ ok", WAIT);
            MigrationReport rep = new MigrationSender(src, SendOptions.defaults().withDetector("d3"))
                    .migrate(tcp, l.localAddress(), 5000);
            Migratable dst = rx.get(60, TimeUnit.SECONDS);
            try {
                assertThat(rep.status).as(rep.error).isEqualTo(MigrationStatus.COMPLETED);
                assertThat(rep.digestMatch).isTrue();
                assertThat(src.outcomeNow()).as("the source VM ends after the ACK").isNotNull();
                assertThat(rep.ramTransferred).as("zero pages stay off the wire").isLessThan(rep.ramTotal);
                long lastTick = lastTick(srcConsole.text());
                MigrationTest.awaitOrExplain(dstConsole, (Vm) dst, "d3guest: tick=(\\d+) .*", 0);
                // The console is one stream across the switch-over: a tick line the source had only
                // partly printed finishes on the destination, so check the joined text, in which the
                // ticks must count on by one without a restart.
                long first = firstTickAfter(srcConsole.text() + dstConsole.text(), lastTick);
                assertThat(first).as("first tick after the source's last (%d)", lastTick).isEqualTo(lastTick + 1);
                Matcher p = MigrationTest.awaitOrExplain(dstConsole, (Vm) dst, "d3guest: verify pass=\\d+ ok", 0);
                MigrationTest.awaitOrExplain(dstConsole, (Vm) dst, "d3guest: verify pass=\\d+ ok", p.end());
                assertThat(dstConsole.text()).doesNotContain("MISMATCH").doesNotContain("d3guest: boot");
                System.out.printf("KVM loopback migration: total %.0f ms, downtime %s ms, ram.total %d, ram.transferred %d, rounds %d%n",
                        rep.totalTimeUs / 1e3, rep.downtimeUs / 1e3, rep.ramTotal, rep.ramTransferred, rep.dirtySyncCount);
            } finally {
                dst.shutdown();
                src.close();
            }
        }
    }

    static long firstTickAfter(String text, long tick) {
        Matcher m = Pattern.compile("(?m)^d3guest: tick=(\\d+) ").matcher(text);
        while (m.find()) {
            long t = Long.parseLong(m.group(1));
            if (t > tick) {
                return t;
            }
        }
        return -1;
    }

    static long lastTick(String text) {
        Matcher m = Pattern.compile("(?m)^d3guest: tick=(\\d+) ").matcher(text);
        long last = 0;
        while (m.find()) {
            last = Long.parseLong(m.group(1));
        }
        return last;
    }
}
