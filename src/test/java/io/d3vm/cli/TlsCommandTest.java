package io.d3vm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.d3vm.cli.MigrateCommandTest.run;
import static org.assertj.core.api.Assertions.assertThat;

/** {@code d3vm certs}, and {@code migrate}/{@code receive} with {@code --tls-dir}. */
class TlsCommandTest {

    @Test
    void shouldMigrateOverTlsWithCertificatesFromTheCertsCommand(@TempDir Path dir) throws Exception {
        MigrateCommandTest.Run c = run("certs", "--out", dir.resolve("pki").toString(), "--days", "2");
        assertThat(c.code()).as(c.err()).isZero();
        assertThat(c.out()).contains("--tls-dir for ./d3vm receive");
        int port = freePort();
        Path dst = dir.resolve("dst.json");
        CompletableFuture<MigrateCommandTest.Run> receiver = CompletableFuture.supplyAsync(() -> run("receive", "--listen",
                "127.0.0.1:" + port, "--once", "--tls-dir", dir.resolve("pki/destination").toString(), "--report", dst.toString()));
        MigrateCommandTest.Run m = migrateWhenListening(port, "--tls-dir", dir.resolve("pki/source").toString());
        MigrateCommandTest.Run r = receiver.get(60, TimeUnit.SECONDS);
        assertThat(m.code()).as(m.err()).isZero();
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(new ObjectMapper().readTree(dst.toFile()).get("transport").asText()).isEqualTo("tls");
        assertThat(new ObjectMapper().readTree(dst.toFile()).get("digest-match").asBoolean()).isTrue();
    }

    @Test
    void shouldRefuseAPlainSenderWhenTheReceiverWantsTls(@TempDir Path dir) throws Exception {
        assertThat(run("certs", "--out", dir.toString()).code()).isZero();
        int port = freePort();
        CompletableFuture<MigrateCommandTest.Run> receiver = CompletableFuture.supplyAsync(() -> run("receive", "--listen",
                "127.0.0.1:" + port, "--once", "--tls-dir", dir.resolve("destination").toString()));
        MigrateCommandTest.Run m = migrateWhenListening(port);
        MigrateCommandTest.Run r = receiver.get(60, TimeUnit.SECONDS);
        assertThat(m.code()).isEqualTo(1);
        assertThat(m.err()).contains("the peer speaks TLS");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("does not speak TLS");
    }

    @Test
    void shouldNameTheBadFileOfATlsDirBeforeBuildingTheGuest(@TempDir Path dir) {
        MigrateCommandTest.Run m = run("migrate", "--to", "127.0.0.1:1", "--guest", "synthetic:mem=1M", "--tls-dir", dir.toString());
        assertThat(m.code()).isEqualTo(2);
        assertThat(m.err()).contains("ca-cert.pem: no such file");
        assertThat(m.out()).doesNotContain("guest synthetic");
    }

    private static MigrateCommandTest.Run migrateWhenListening(int port, String... extra) {
        String[] base = {"migrate", "--to", "127.0.0.1:" + port, "--guest", "synthetic:mem=8M,zero=70,uniform=10,dirty-rate=200"};
        String[] args = new String[base.length + extra.length];
        System.arraycopy(base, 0, args, 0, base.length);
        System.arraycopy(extra, 0, args, base.length, extra.length);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        MigrateCommandTest.Run m;
        do {
            m = run(args);
        } while (m.err().contains("connection refused") && System.nanoTime() < deadline);
        return m;
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
