package io.d3vm.migration.fault;

import io.d3vm.kvm.KvmTestSupport;
import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.recv.HeldPostcopy;
import io.d3vm.migration.recv.MigrationReceiver;
import io.d3vm.migration.recv.PostcopyPausedException;
import io.d3vm.migration.recv.ReceiverLimits;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.report.MigrationStatus;
import io.d3vm.migration.send.MigrationSender;
import io.d3vm.migration.send.SendOptions;
import io.d3vm.migration.transport.Connection;
import io.d3vm.migration.transport.Listener;
import io.d3vm.migration.transport.TcpTransport;
import io.d3vm.vmm.vstate.ConsoleCapture;
import io.d3vm.vmm.vstate.KvmGuestFactory;
import io.d3vm.vmm.vstate.TestGuestSupport;
import io.d3vm.vmm.vstate.Vm;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A KVM guest's post-copy, cut inside its first REQUEST and resumed: the destination's vCPU was
 * waiting in KVM_RUN on a page that did not come; the half is held, the source reconnects, the
 * guest gets its pages and its {@code verify} workload, which checks every word of its memory,
 * finds none wrong.
 */
@Tag("kvm")
class PostcopyKvmResumeTest {
    static final Duration WAIT = Duration.ofSeconds(90);

    @Test
    void shouldResumeAKvmGuestsInterruptedPostcopyWithEveryWordRight() throws Exception {
        ConsoleCapture console = new ConsoleCapture();
        ConsoleCapture there = new ConsoleCapture();
        TcpTransport tcp = new TcpTransport();
        GuestFactories factories = new GuestFactories().register("test", new KvmGuestFactory(KvmTestSupport.kvm(), 1, there));
        try (Vm a = TestGuestSupport.load("test:verify,mem=64M,seed=6,hot=32,rate=20000,tick-ms=100", console);
             Listener l = tcp.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
             FaultProxy proxy = new FaultProxy(l.localAddress(), new FaultProxy.Fault(FaultProxy.Kind.CUT_BACK, 132, 0, 0, 0))) {
            a.start();
            console.await("d3guest: verify pass=1 ok", WAIT);
            CompletableFuture<Object> rx = CompletableFuture.supplyAsync(() -> {
                try (Connection c = l.accept()) {
                    return new MigrationReceiver(factories, ReceiverLimits.defaults()).receive(c);
                } catch (Exception e) {
                    return e;
                }
            }, r -> Thread.ofPlatform().daemon().start(r));
            // 20 MB/s both before and after GO: round 1 takes seconds, so the guest's hot rewrites
            // leave thousands of stale pages, and post-copy lasts long enough for REQUESTs to come.
            MigrationSender sender = new MigrationSender(a, SendOptions.defaults().withMaxBandwidth(20_000_000).withPostcopy(1)
                    .withMaxPostcopyBandwidth(20_000_000));
            assertThatThrownBy(() -> sender.migrate(tcp, proxy.address(), 5000)).hasMessageContaining("post-copy interrupted");
            assertThat(sender.report().status).isEqualTo(MigrationStatus.POSTCOPY_PAUSED);
            Object first = rx.get(60, TimeUnit.SECONDS);
            assertThat(first).isInstanceOf(PostcopyPausedException.class);
            HeldPostcopy held = ((PostcopyPausedException) first).held();
            assertThat(held.missingPages()).as("pages the guest still lacks there").isPositive();

            CompletableFuture<Object> resumed = CompletableFuture.supplyAsync(() -> {
                try (Connection c = l.accept()) {
                    return held.resume(c);
                } catch (Exception e) {
                    return e;
                }
            }, r -> Thread.ofPlatform().daemon().start(r));
            MigrationReport rep = sender.resume(tcp, l.localAddress(), 5000);
            Object dest = resumed.get(60, TimeUnit.SECONDS);
            assertThat(dest).isInstanceOf(Vm.class);
            assertThat(rep.status).isEqualTo(MigrationStatus.COMPLETED);
            assertThat(rep.digestMatch).isTrue();
            assertThat(rep.auditMatch).isTrue();
            try (Vm b = (Vm) dest) {
                int mark = there.text().length();
                Matcher p = there.await("d3guest: verify pass=\\d+ ok", mark, WAIT);
                there.await("d3guest: verify pass=\\d+ ok", p.end(), WAIT);
                assertThat(there.text()).doesNotContain("MISMATCH").doesNotContain("FAILED");
            }
        }
    }
}
