package io.d3vm.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

class MigrateCommandTest {

    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = new CommandLine(new Main());
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        cl.setExecutionExceptionHandler((ex, cmd, pr) -> {
            cmd.getErr().println("d3vm: " + ex.getMessage());
            return 1;
        });
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    /** migrate --api-socket hands the VM every migration option the CLI took, and the VM reads them back to the same values. */
    @Test
    void shouldPassEveryMigrationOptionToTheVmsApi(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        assertThat(run("certs", "--out", dir.resolve("pki").toString()).code()).isZero();
        java.nio.file.Path tls = dir.resolve("pki/source");
        MigrateCommand c = new MigrateCommand();
        new CommandLine(c).parseArgs("--api-socket", dir.resolve("vm.sock").toString(), "--to", "127.0.0.1:7000", "--detector", "full",
                "--samples", "4", "--max-bandwidth", "100M", "--downtime-limit", "50ms", "--max-rounds", "7", "--connect-timeout", "2s",
                "--ack-timeout", "9s", "--verify", "strict", "--auto-converge", "--allow-long-downtime", "--tls-dir", tls.toString(),
                "--compress", "lz4", "--duplicates", "off");
        var request = io.d3vm.api.MigrateRequest.parse(ApiMigration.requestArguments(c));
        var o = request.options();
        assertThat(request.target()).isEqualTo("127.0.0.1:7000");
        assertThat(o.detector()).isEqualTo("full");
        assertThat(o.samples()).isEqualTo(4);
        assertThat(o.maxBandwidth()).isEqualTo(100L << 20);
        assertThat(o.downtimeLimitMillis()).isEqualTo(50);
        assertThat(o.maxRounds()).isEqualTo(7);
        assertThat(request.connectTimeoutMillis()).isEqualTo(2000);
        assertThat(o.ackTimeoutMillis()).isEqualTo(9000);
        assertThat(o.verify()).isEqualTo(io.d3vm.migration.send.Verify.STRICT);
        assertThat(o.autoConverge()).isTrue();
        assertThat(o.allowLongDowntime()).isTrue();
        assertThat(o.savings()).isEqualTo(new io.d3vm.migration.send.ByteSavings(io.d3vm.migration.send.ByteSavings.Compress.LZ4,
                io.d3vm.migration.send.ByteSavings.Duplicates.OFF));
        assertThat(request.tlsDir()).isEqualTo(tls.toAbsolutePath());
        assertThat(request.transport().name()).isEqualTo("tls");
    }

    @Test
    void shouldRejectAMalformedAddressAsAUsageError() {
        Run r = run("migrate", "--to", "localhost", "--guest", "synthetic:mem=1M");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("is not HOST:PORT");
        r = run("migrate", "--to", "127.0.0.1:70000", "--guest", "synthetic:mem=1M");
        assertThat(r.err()).contains("outside 1..65535"); // connecting: port 0 is no peer
    }

    @Test
    void shouldExplainABadGuestSpec() {
        Run r = run("migrate", "--to", "127.0.0.1:1", "--guest", "synthetic:mem=1M,zero=80,uniform=30");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("zero=80 plus uniform=30 must stay within 0..100 percent");
        r = run("migrate", "--to", "127.0.0.1:1", "--guest", "synthetic:mem=1M,speed=3");
        assertThat(r.err()).contains("unknown key 'speed'");
    }

    @Test
    void shouldAskWhetherTheReceiverRunsWhenTheConnectionIsRefused() throws Exception {
        int port = freePort();
        Run r = run("migrate", "--to", "127.0.0.1:" + port, "--guest", "synthetic:mem=1M");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("is `d3vm receive --listen 127.0.0.1:" + port + "` running there?");
    }

    @Test
    void shouldMigrateBetweenTheTwoCommandsAndWriteBothReports(@TempDir Path dir) throws Exception {
        int port = freePort();
        Path src = dir.resolve("src.json");
        Path dst = dir.resolve("dst.json");
        CompletableFuture<Run> receiver = CompletableFuture.supplyAsync(
                () -> run("receive", "--listen", "127.0.0.1:" + port, "--once", "--report", dst.toString()));
        // A probe connection would be taken for the one migration: retry while the port is not open yet.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        Run m;
        do {
            m = run("migrate", "--to", "127.0.0.1:" + port, "--guest", "synthetic:mem=16M,zero=70,uniform=10,dirty-rate=500",
                    "--detector", "d3", "--report", src.toString());
        } while (m.err().contains("connection refused") && System.nanoTime() < deadline);
        Run r = receiver.get(60, TimeUnit.SECONDS);
        assertThat(m.code()).as(m.err()).isZero();
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(m.out()).contains("migration completed").contains("digest match: yes");
        JsonNode s = new ObjectMapper().readTree(src.toFile());
        JsonNode d = new ObjectMapper().readTree(dst.toFile());
        assertThat(s.get("status").asText()).isEqualTo("completed");
        assertThat(s.get("digest-match").asBoolean()).isTrue();
        assertThat(d.get("digest-match").asBoolean()).isTrue();
        assertThat(s.get("ram").get("total").asLong()).isEqualTo(16L << 20);
        assertThat(s.get("ram").get("transferred").asLong()).isPositive().isLessThan(16L << 20);
        assertThat(s.get("d3").get("detector").asText()).isEqualTo("d3");
        assertThat(s.get("rounds").size()).isGreaterThanOrEqualTo(2);
        assertThat(s.get("digest").asText()).isEqualTo(d.get("digest").asText());
        for (String f : new String[] {"total-time", "setup-time", "downtime", "stop-reason"}) {
            assertThat(s.has(f)).as(f).isTrue();
        }
        for (String f : new String[] {"duplicate", "normal", "mbps", "dirty-sync-count"}) {
            assertThat(s.get("ram").has(f)).as(f).isTrue();
        }
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
