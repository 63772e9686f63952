package io.d3vm.migration.fault;

import io.d3vm.testing.ApiDriver;
import io.d3vm.testing.Awaits;
import io.d3vm.testing.D3vmProcess;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.d3vm.api.ApiClient;
import io.d3vm.api.ApiException;
import io.d3vm.kvm.KvmTestSupport;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.time.Duration;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A KVM guest whose hand-over is cut inside GO: the source committed (its guest ended), the
 * destination verified the guest but never got GO. The destination must hold it paused — not
 * run it, not discard it — and let the operator run it with {@code cont}; the guest then
 * continues where it stopped on the source.
 */
@Tag("kvm")
class HeldHandoverTest {
    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final long TICK_MS = 200;

    @Test
    void shouldHoldTheGuestPausedWhenGoIsLostAndRunItOnlyOnCont(@TempDir Path dir) throws Exception {
        KvmTestSupport.kvm();
        Path a = dir.resolve("a.sock");
        Path b = dir.resolve("b.sock");
        try (D3vmProcess src = D3vmProcess.startC1("run", "--guest", "test:idle,mem=64M,tick-ms=" + TICK_MS, "--api-socket", a.toString());
             D3vmProcess dst = D3vmProcess.startC1("receive", "--listen", "127.0.0.1:0", "--once", "--read-timeout", "5s",
                     "--api-socket", b.toString());
             FaultProxy proxy = new FaultProxy(new InetSocketAddress(InetAddress.getLoopbackAddress(), dst.listeningPort()),
                     new FaultProxy.Fault(FaultProxy.Kind.CUT_AFTER_BACK, 96, 0, 0, 0))) {
            src.awaitMatch("d3guest: tick=2 ", WAIT);
            JsonNode result;
            try (ApiClient api = src.connectApi(a, WAIT)) {
                ObjectNode args = ApiClient.object();
                args.put("to", "127.0.0.1:" + proxy.address().getPort());
                api.call("migrate", args);
                result = ApiDriver.awaitEnd(api, WAIT);
            }
            // The source cannot tell GO was lost: it committed, and its guest ended there.
            assertThat(result.path("status").asText()).as(result.toString()).isEqualTo("completed");
            assertThat(src.waitFor(WAIT)).as(src.text()).isZero();
            long lastOnSource = D3vmProcess.lastTick(src.text());
            assertThat(lastOnSource).isPositive();

            dst.awaitMatch("held paused here", WAIT);
            long heldSeen = System.nanoTime();
            try (ApiClient api = dst.connectApi(b, WAIT)) {
                JsonNode status = api.call("query-status");
                assertThat(status.path("status").asText()).as(status.toString()).isEqualTo("paused");
                assertThat(status.path("held").asText()).contains("hand-over unconfirmed");
                ObjectNode onward = ApiClient.object();
                onward.put("to", "127.0.0.1:9");
                assertThatThrownBy(() -> api.call("migrate", onward)).isInstanceOf(ApiException.class)
                        .hasMessageContaining("held paused");
                // Not running is shown by order, not by a sleep: the console is read in order, so a
                // guest that ran while held would have its next tick before the point cont was sent.
                // The hold must span tick periods for that to mean anything: wait until it has.
                Awaits.until("three tick periods of holding",
                        () -> System.nanoTime() - heldSeen >= TimeUnit.MILLISECONDS.toNanos(3 * TICK_MS));
                int beforeCont = dst.text().length();
                assertThat(api.call("cont").path("status").asText()).isEqualTo("running");
                Matcher first = dst.awaitMatch("d3guest: tick=(\\d+) ", WAIT);
                assertThat(first.start()).as("the held guest ticked before cont:\n" + dst.text()).isGreaterThanOrEqualTo(beforeCont);
                assertThat(Long.parseLong(first.group(1))).as("the guest continues, it does not restart")
                        .isBetween(lastOnSource + 1, lastOnSource + 2);
                assertThat(api.call("query-status").path("status").asText()).isEqualTo("running");
                assertThatThrownBy(() -> api.call("cont")).isInstanceOf(ApiException.class).hasMessageContaining("not held");
                api.call("quit");
            }
            assertThat(dst.waitFor(WAIT)).as(dst.text()).isZero();
            assertThat(dst.text()).doesNotContain("d3guest: boot");
        }
    }
}
