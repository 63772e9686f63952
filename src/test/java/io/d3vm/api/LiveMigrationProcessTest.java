package io.d3vm.api;

import io.d3vm.testing.ApiDriver;
import io.d3vm.testing.D3vmProcess;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.d3vm.cli.Main;
import io.d3vm.kvm.KvmTestSupport;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Running test guests move between real d3vm processes over loopback, driven through the control
 * API: {@code run --api-socket} is the source, {@code receive --api-socket} the destination, which
 * then runs the guest and can send it on.
 */
@Tag("kvm")
class LiveMigrationProcessTest {
    static final Duration WAIT = Duration.ofSeconds(90);

    @BeforeAll
    static void needKvm() {
        KvmTestSupport.kvm(); // skips with the reason when /dev/kvm does not open
    }

    static int port(D3vmProcess receiver) throws InterruptedException {
        return Integer.parseInt(receiver.awaitLine("listening on 127\\.0\\.0\\.1:(\\d+) .*", WAIT).group(1));
    }

    /**
     * A kernel booted through the Multiboot loader (the test guest's 32-bit trampoline, as QEMU
     * boots it) moves live like any guest: the destination rebuilds it from the handshake's
     * {@code multiboot:} description alone — it never sees the kernel file — and its PIT-driven
     * ticks continue where they stopped.
     */
    @Test
    void shouldMigrateAMultibootKernelLiveWithoutTheKernelFileAtTheDestination(@TempDir Path dir) throws Exception {
        Path kernel = dir.resolve("kernel").resolve("d3guest.elf");
        java.nio.file.Files.createDirectories(kernel.getParent());
        java.nio.file.Files.write(kernel, io.d3vm.vmm.boot.testguest.TestGuestImage.builtIn().bytes());
        Path a = dir.resolve("a.sock");
        try (D3vmProcess src = D3vmProcess.startNamed("run", "run", "--kernel", kernel.toString(), "--cmdline", "idle tick-ms=100",
                "--mem", "64M", "--api-socket", a.toString());
             D3vmProcess dst = D3vmProcess.startNamed("receive", "receive", "--listen", "127.0.0.1:0", "--once")) {
            int port = port(dst);
            src.awaitLine("d3guest: boot workload=idle .* loader=multiboot .*", WAIT);
            src.awaitLine("d3guest: tick=3 .*", WAIT);
            java.nio.file.Files.delete(kernel); // the destination must not need it
            ApiDriver.awaitSocket(a, src, WAIT);
            assertThat(Main.run("migrate", "--api-socket", a.toString(), "--to", "127.0.0.1:" + port)).as(src.text()).isZero();
            assertThat(src.waitFor(WAIT)).isZero();
            long lastOnSource = D3vmProcess.lastTick(src.text());
            Matcher here = dst.awaitLine("  guest multiboot:d3guest\\.elf,mem=64M is running here; its console continues below", WAIT);
            dst.awaitLine("d3guest: tick=\\d+ .*", here.end(), WAIT);
            assertThat(D3vmProcess.firstTick(dst.text(), here.end())).isBetween(lastOnSource + 1, lastOnSource + 2);
            assertThat(dst.text()).doesNotContain("d3guest: boot").contains("digest match: yes");
            dst.kill();
        }
    }

    @Test
    void shouldContinueAVerifyingGuestInTheReceiverAfterMigrateThroughTheCli(@TempDir Path dir) throws Exception {
        Path a = dir.resolve("a.sock");
        Path b = dir.resolve("b.sock");
        Path srcReport = dir.resolve("src.json");
        Path dstReport = dir.resolve("dst.json");
        try (D3vmProcess src = D3vmProcess.startNamed("run", "run", "--guest", "test:verify,mem=128M,seed=5,tick-ms=200,rate=2000",
                "--api-socket", a.toString());
             D3vmProcess dst = D3vmProcess.startNamed("receive", "receive", "--listen", "127.0.0.1:0", "--once",
                     "--api-socket", b.toString(), "--report", dstReport.toString())) {
            int port = port(dst);
            src.awaitLine("d3guest: verify pass=1 ok", WAIT);
            ApiDriver.awaitSocket(a, src, WAIT);

            int code = Main.run("migrate", "--api-socket", a.toString(), "--to", "127.0.0.1:" + port, "--report", srcReport.toString());
            assertThat(code).as(src.text()).isZero();
            assertThat(src.waitFor(WAIT)).isZero();
            assertThat(src.text()).contains("the guest migrated live to 127.0.0.1:" + port);
            long lastOnSource = D3vmProcess.lastTick(src.text());
            assertThat(lastOnSource).isPositive();

            Matcher here = dst.awaitLine("  guest test:verify.* is running here; its console continues below", WAIT);
            Matcher firstPass = dst.awaitLine("d3guest: verify pass=(\\d+) ok", here.end(), WAIT);
            Matcher nextPass = dst.awaitLine("d3guest: verify pass=(\\d+) ok", firstPass.end(), WAIT);
            assertThat(Long.parseLong(nextPass.group(1))).isGreaterThan(Long.parseLong(firstPass.group(1)));
            dst.awaitLine("d3guest: tick=\\d+ .*", here.end(), WAIT);
            long firstOnDestination = D3vmProcess.firstTick(dst.text(), here.end());
            // The source may have printed part of the next tick line before it paused; the
            // destination then finishes that line, and its first whole tick line is one later.
            assertThat(firstOnDestination).isBetween(lastOnSource + 1, lastOnSource + 2);
            assertThat(dst.text()).doesNotContain("MISMATCH").doesNotContain("d3guest: boot");

            JsonNode status = ApiDriver.call(b, "query-status");
            assertThat(status.path("status").asText()).isEqualTo("running");
            assertThat(status.path("console").path("tick").asLong()).isGreaterThan(lastOnSource);

            ObjectMapper json = new ObjectMapper();
            JsonNode s = json.readTree(srcReport.toFile());
            JsonNode d = json.readTree(dstReport.toFile());
            assertThat(s.path("status").asText()).isEqualTo("completed");
            assertThat(s.path("digest-match").asBoolean()).isTrue();
            assertThat(d.path("digest-match").asBoolean()).isTrue();
            assertThat(s.path("digest").asText()).isEqualTo(d.path("digest").asText());
            assertThat(s.path("ram").path("total").asLong()).isEqualTo(128L << 20);

            assertThat(ApiDriver.call(b, "quit").path("status").asText()).isEqualTo("ended");
            assertThat(dst.waitFor(WAIT)).isZero();
            assertThat(dst.text()).contains("powered off via the control API");
        }
    }

    @Test
    void shouldMoveADirtyingGuestFromAToBToAToBWithoutARestart(@TempDir Path dir) throws Exception {
        Path a = dir.resolve("a.sock");
        Path b = dir.resolve("b.sock");
        Path a2 = dir.resolve("a2.sock");
        try (D3vmProcess src = D3vmProcess.startNamed("run", "run", "--guest", "test:dirty,mem=64M,wss=16,rate=3000,tick-ms=200",
                "--api-socket", a.toString());
             D3vmProcess procB = D3vmProcess.startNamed("B", "receive", "--listen", "127.0.0.1:0", "--api-socket", b.toString());
             D3vmProcess procA = D3vmProcess.startNamed("A'", "receive", "--listen", "127.0.0.1:0", "--api-socket", a2.toString())) {
            String toB = "127.0.0.1:" + port(procB);
            String toA = "127.0.0.1:" + port(procA);
            src.awaitLine("d3guest: tick=\\d+ .*pages=.*", WAIT);
            ApiDriver.awaitSocket(a, src, WAIT);

            JsonNode r1 = ApiDriver.migrate(a, ApiDriver.args(toB, "d3"), WAIT);
            assertThat(r1.path("status").asText()).as(r1.toString()).isEqualTo("completed");
            assertThat(src.waitFor(WAIT)).isZero();
            long t1 = D3vmProcess.lastTick(src.text());

            long t2 = hop(procB, b, toA, t1);
            long t3 = hop(procA, a2, toB, t2);
            // B now runs the guest for the second time: its ticks continue from A''s.
            Matcher again = procB.awaitLine("  guest test:dirty.* is running here; its console continues below", 0, WAIT);
            Matcher second = procB.awaitLine("  guest test:dirty.* is running here; its console continues below", again.end(), WAIT);
            procB.awaitLine("d3guest: tick=\\d+ .*", second.end(), WAIT);
            assertThat(D3vmProcess.firstTick(procB.text(), second.end())).isBetween(t3 + 1, t3 + 2);
            for (D3vmProcess p : new D3vmProcess[] {procB, procA}) {
                assertThat(p.text()).doesNotContain("d3guest: boot").doesNotContain("panic");
            }
            assertThat(ApiDriver.call(b, "quit").path("status").asText()).isEqualTo("ended");
            assertThat(procB.waitFor(WAIT)).isZero();
            assertThat(procA.isAlive()).as("A' keeps listening after its guest left").isTrue();
        }
    }

    /**
     * The receiver {@code p} runs the guest (its first stint there): checks its ticks continue
     * from {@code lastTick}, migrates it on to {@code to}, and returns its last tick here.
     */
    private static long hop(D3vmProcess p, Path socket, String to, long lastTick) throws Exception {
        Matcher here = p.awaitLine("  guest test:dirty.* is running here; its console continues below", WAIT);
        Matcher tick = p.awaitLine("d3guest: tick=\\d+ .*", here.end(), WAIT);
        assertThat(D3vmProcess.firstTick(p.text(), here.end())).isBetween(lastTick + 1, lastTick + 2);
        p.awaitLine("d3guest: tick=\\d+ .*", tick.end(), WAIT);
        ApiDriver.awaitSocket(socket, p, WAIT);
        JsonNode r = ApiDriver.migrate(socket, ApiDriver.args(to, "d3"), WAIT);
        assertThat(r.path("status").asText()).as(r.toString()).isEqualTo("completed");
        assertThat(r.path("digest-match").asBoolean()).isTrue();
        // Anywhere in a line: the guest's console may be mid-line (its partial line continues on the
        // destination) when the VMM prints this on the same terminal.
        p.awaitLine(".*d3vm: the guest migrated live to " + to.replace(".", "\\.") + " .*", here.end(), WAIT);
        return D3vmProcess.lastTick(p.text());
    }

    @Test
    void shouldMoveATwoVcpuGuestAndRebuildBothVcpusAtTheDestination(@TempDir Path dir) throws Exception {
        Path a = dir.resolve("a.sock");
        Path b = dir.resolve("b.sock");
        try (D3vmProcess src = D3vmProcess.startNamed("run", "run", "--guest", "test:idle,mem=64M,tick-ms=200", "--vcpus", "2",
                "--api-socket", a.toString());
             D3vmProcess dst = D3vmProcess.startNamed("receive", "receive", "--listen", "127.0.0.1:0", "--once",
                     "--api-socket", b.toString())) {
            int port = port(dst);
            src.awaitLine("d3guest: tick=2 .*", WAIT);
            ApiDriver.awaitSocket(a, src, WAIT);
            assertThat(ApiDriver.call(a, "query-status").path("vcpus").asInt()).isEqualTo(2);
            ApiDriver.awaitWarm(a, WAIT); // run's warm-up ends on its own, in the background
            JsonNode r = ApiDriver.migrate(a, ApiDriver.args("127.0.0.1:" + port, "d3"), WAIT);
            assertThat(r.path("status").asText()).as(r.toString()).isEqualTo("completed");
            assertThat(src.waitFor(WAIT)).isZero();
            long last = D3vmProcess.lastTick(src.text());

            Matcher here = dst.awaitLine("  guest test:idle.*vcpus=2.* is running here; its console continues below", WAIT);
            dst.awaitLine(".*d3guest: tick=\\d+ .*", here.end(), WAIT);
            assertThat(D3vmProcess.firstTick(dst.text(), here.end())).isBetween(last + 1, last + 2);
            ApiDriver.awaitSocket(b, dst, WAIT);
            JsonNode status = ApiDriver.call(b, "query-status");
            assertThat(status.path("vcpus").asInt()).as(status.toString()).isEqualTo(2);
            assertThat(status.path("warming-up").asBoolean(true)).as(status.toString()).isFalse(); // receive warmed up before it listened
            assertThat(status.path("guest").asText()).contains("vcpus=2");
            assertThat(ApiDriver.call(b, "quit").path("status").asText()).isEqualTo("ended");
            assertThat(dst.waitFor(WAIT)).isZero();
        }
    }

    @Test
    void shouldKeepTheSourceRunningAndVerifyingWhenTheReceiverProcessIsKilled(@TempDir Path dir) throws Exception {
        Path a = dir.resolve("a.sock");
        try (D3vmProcess src = D3vmProcess.startNamed("run", "run", "--guest", "test:verify,mem=128M,seed=9,tick-ms=200,rate=1000",
                "--api-socket", a.toString());
             D3vmProcess dst = D3vmProcess.startNamed("receive", "receive", "--listen", "127.0.0.1:0", "--once")) {
            int port = port(dst);
            src.awaitLine("d3guest: verify pass=1 ok", WAIT);
            ApiDriver.awaitSocket(a, src, WAIT);
            try (ApiClient api = ApiClient.connect(a)) {
                ObjectNode args = ApiDriver.args("127.0.0.1:" + port, "none");
                args.put("max-bandwidth", "4M"); // 128 MiB take half a minute: killed well inside round 1
                api.call("migrate", args);
                ApiDriver.awaitTransferred(api, 6L << 20, WAIT);
                dst.kill();
                JsonNode q = ApiDriver.awaitEnd(api, WAIT);
                assertThat(q.path("status").asText()).isEqualTo("failed");
                assertThat(q.path("error").asText()).contains("keeps running here");
                JsonNode st = api.call("query-status");
                assertThat(st.path("status").asText()).isEqualTo("running");
            }
            int mark = src.text().length();
            Matcher p1 = src.awaitLine("d3guest: verify pass=(\\d+) ok", mark, WAIT);
            src.awaitLine("d3guest: verify pass=(\\d+) ok", p1.end(), WAIT);
            assertThat(src.text()).doesNotContain("MISMATCH");
            assertThat(ApiDriver.call(a, "quit").path("status").asText()).isEqualTo("ended");
            assertThat(src.waitFor(WAIT)).isZero();
        }
    }
}
