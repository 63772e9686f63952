package io.d3vm.api;

import io.d3vm.testing.ApiDriver;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.d3vm.memory.MemoryImage;
import io.d3vm.migration.MigrationException;
import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.migration.synthetic.SyntheticGuest;
import io.d3vm.migration.recv.MigrationReceiver;
import io.d3vm.migration.recv.ReceiverLimits;
import io.d3vm.migration.transport.Connection;
import io.d3vm.migration.transport.Listener;
import io.d3vm.migration.transport.TcpTransport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The control API on a synthetic guest (no KVM needed): request validation, a migration, its report. */
class ApiServerTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A synthetic guest under the API; quit shuts it down. */
    static final class SyntheticControl implements ControlledGuest {
        final SyntheticGuest guest;

        SyntheticControl(String spec) {
            guest = SyntheticGuest.create(spec);
        }

        public Migratable migratable() {
            return guest;
        }

        public boolean alive() {
            return !guest.isShutdown();
        }

        public void describe(ObjectNode into) {
            into.put("guest", guest.describe());
            into.put("memory", guest.memory().totalBytes());
        }

        public void quit() {
            guest.shutdown();
        }
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
            "{nope|not JSON",
            "[1,2]|a request is a JSON object",
            "{\"execute\": 3}|'execute' must name a command",
            "{\"execute\": \"reboot\"}|unknown command 'reboot'",
            "{\"execute\": \"query-status\", \"extra\": 1}|unknown request member 'extra'",
            "{\"execute\": \"query-status\", \"arguments\": {\"x\": 1}}|query-status takes no arguments",
            "{\"execute\": \"migrate\"}|migrate needs arguments",
            "{\"execute\": \"migrate\", \"arguments\": []}|'arguments' must be a JSON object",
            "{\"execute\": \"migrate\", \"arguments\": {}}|migrate needs 'to'",
            "{\"execute\": \"migrate\", \"arguments\": {\"to\": \"localhost\"}}|is not HOST:PORT",
            "{\"execute\": \"migrate\", \"arguments\": {\"to\": \"127.0.0.1:0\"}}|outside 1..65535",
            "{\"execute\": \"migrate\", \"arguments\": {\"to\": 7000}}|'to' must be a string",
            "{\"execute\": \"migrate\", \"arguments\": {\"to\": \"127.0.0.1:7\", \"speed\": 1}}|unknown migrate argument 'speed'",
            "{\"execute\": \"migrate\", \"arguments\": {\"to\": \"127.0.0.1:7\", \"detector\": \"magic\"}}|unknown detector 'magic'",
            "{\"execute\": \"migrate\", \"arguments\": {\"to\": \"127.0.0.1:7\", \"samples\": 65}}|'samples' must be an integer 0..64",
            "{\"execute\": \"migrate\", \"arguments\": {\"to\": \"127.0.0.1:7\", \"max-bandwidth\": \"fast\"}}|'max-bandwidth'",
            "{\"execute\": \"migrate\", \"arguments\": {\"to\": \"127.0.0.1:7\", \"max-bandwidth\": -1}}|'max-bandwidth' must be bytes/s",
            "{\"execute\": \"migrate\", \"arguments\": {\"to\": \"127.0.0.1:7\", \"downtime-limit\": \"soon\"}}|is not a duration",
            "{\"execute\": \"migrate\", \"arguments\": {\"to\": \"127.0.0.1:7\", \"downtime-limit\": 0}}|outside 1 ms",
            "{\"execute\": \"migrate\", \"arguments\": {\"to\": \"127.0.0.1:7\", \"max-rounds\": 1.5}}|'max-rounds' must be an integer",
            "{\"execute\": \"migrate\", \"arguments\": {\"to\": \"127.0.0.1:7\", \"tls-dir\": \"/nonexistent/tls\"}}|tls-dir /nonexistent/tls",
            "{\"execute\": \"migrate-cancel\"}|no migration is active",
            "{\"execute\": \"cont\"}|this one is not held",
            "{\"execute\": \"dump-guest-memory\"}|dump-guest-memory needs {\"path\"",
            "{\"execute\": \"dump-guest-memory\", \"arguments\": {\"path\": \"rel.elf\"}}|'path' must be absolute",
            "{\"execute\": \"dump-guest-memory\", \"arguments\": {\"path\": 5}}|dump-guest-memory needs {\"path\"",
            "{\"execute\": \"dump-guest-memory\", \"arguments\": {\"path\": \"/tmp/x\", \"paging\": true}}|takes only 'path', not 'paging'",
            "{\"execute\": \"dump-guest-memory\", \"arguments\": {\"path\": \"/nonexistent-dir/x.elf\"}}|could not write /nonexistent-dir/x.elf",
    })
    void shouldRefuseABadRequestWithAClearError(String request, String message, @TempDir Path dir) throws Exception {
        SyntheticControl g = new SyntheticControl("synthetic:mem=1M");
        try (ApiServer api = ApiServer.start(dir.resolve("api.sock"), g)) {
            ObjectNode answer = api.handle(request);
            assertThat(answer.has("error")).as(answer.toString()).isTrue();
            assertThat(answer.path("error").path("desc").asText()).contains(message);
            assertThat(g.alive()).isTrue();
        } finally {
            g.quit();
        }
    }

    @Test
    void shouldDumpTheGuestsMemoryAsAnElfCoreThatReadsBackPageForPage(@TempDir Path dir) throws Exception {
        // dirty-rate 0: the memory stands still, so the image must equal it byte for byte.
        SyntheticControl g = new SyntheticControl("synthetic:mem=8M,zero=50,uniform=20,seed=3");
        Path core = dir.resolve("guest.elf");
        try (ApiServer api = ApiServer.start(dir.resolve("api.sock"), g)) {
            ObjectNode ok = api.handle("{\"execute\": \"dump-guest-memory\", \"arguments\": {\"path\": \"" + core + "\"}}");
            assertThat(ok.has("return")).as(ok.toString()).isTrue();
            assertThat(ok.path("return").path("pages").asLong()).isEqualTo(2048);
            // Written: exactly the pages holding something (zero pages are holes in the file).
            MemorySegment zero = MemorySegment.ofArray(new byte[4096]);
            long nonZero = 0;
            for (long p = 0; p < g.guest.memory().pageCount(); p++) {
                nonZero += g.guest.memory().page(p).mismatch(zero) == -1 ? 0 : 1;
            }
            assertThat(nonZero).as("the seeded guest has zero and non-zero pages").isBetween(1L, 2047L);
            assertThat(ok.path("return").path("pages-written").asLong()).isEqualTo(nonZero);
            assertThat(api.handle("{\"execute\": \"query-status\"}").path("return").path("status").asText())
                    .as("the guest runs again after the dump").isEqualTo("running");
            try (MemoryImage img = MemoryImage.open(core)) {
                assertThat(img.memory().layout()).isEqualTo(g.guest.memory().layout());
                for (long p = 0; p < img.memory().pageCount(); p++) {
                    assertThat(img.memory().page(p).mismatch(g.guest.memory().page(p))).as("page %d", p).isEqualTo(-1L);
                }
            }
        } finally {
            g.quit();
        }
    }

    @Test
    void shouldHoldAGuestPausedUntilContAndRefuseToMoveOrResumeItOtherwise(@TempDir Path dir) throws Exception {
        SyntheticControl g = new SyntheticControl("synthetic:mem=1M");
        g.guest.pause(); // as the receiver leaves a guest whose GO did not come
        try (ApiServer api = ApiServer.start(dir.resolve("api.sock"), g, "hand-over unconfirmed: test")) {
            ObjectNode st = api.handle("{\"execute\": \"query-status\"}");
            assertThat(st.path("return").path("status").asText()).isEqualTo("paused");
            assertThat(st.path("return").path("held").asText()).isEqualTo("hand-over unconfirmed: test");
            assertThat(api.handle("{\"execute\": \"migrate\", \"arguments\": {\"to\": \"127.0.0.1:9\"}}")
                    .path("error").path("desc").asText()).contains("held paused");
            Path core = dir.resolve("held.elf");
            assertThat(api.handle("{\"execute\": \"dump-guest-memory\", \"arguments\": {\"path\": \"" + core + "\"}}").has("return")).isTrue();
            assertThat(g.guest.isPaused()).as("a dump does not resume a held guest").isTrue();

            assertThat(api.handle("{\"execute\": \"cont\"}").path("return").path("status").asText()).isEqualTo("running");
            assertThat(g.guest.isPaused()).isFalse();
            assertThat(api.holdingPaused()).isFalse();
            assertThat(api.handle("{\"execute\": \"query-status\"}").path("return").path("status").asText()).isEqualTo("running");
            assertThat(api.handle("{\"execute\": \"cont\"}").path("error").path("desc").asText()).contains("not held");
        } finally {
            g.quit();
        }
    }

    @Test
    void shouldEchoTheRequestIdAndNameUnknownCommands(@TempDir Path dir) throws Exception {
        SyntheticControl g = new SyntheticControl("synthetic:mem=1M");
        try (ApiServer api = ApiServer.start(dir.resolve("api.sock"), g)) {
            ObjectNode ok = api.handle("{\"execute\": \"query-status\", \"id\": \"q1\"}");
            assertThat(ok.path("id").asText()).isEqualTo("q1");
            assertThat(ok.path("return").path("status").asText()).isEqualTo("running");
            ObjectNode bad = api.handle("{\"execute\": \"frobnicate\", \"id\": 7}");
            assertThat(bad.path("error").path("class").asText()).isEqualTo("CommandNotFound");
            assertThat(bad.path("id").asInt()).isEqualTo(7);
            assertThat(api.handle("{\"execute\": \"query-migrate\"}").path("return").path("status").asText()).isEqualTo("none");
        } finally {
            g.quit();
        }
    }

    @Test
    void shouldMigrateThroughTheSocketAndReportWhatTheReportFileHolds(@TempDir Path dir) throws Exception {
        SyntheticControl g = new SyntheticControl("synthetic:mem=32M,zero=60,uniform=10,dirty-rate=200");
        Listener l = new TcpTransport().listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        CompletableFuture<Migratable> received = CompletableFuture.supplyAsync(() -> {
            try (Connection c = l.accept()) {
                return new MigrationReceiver(SyntheticGuest.register(new GuestFactories()), ReceiverLimits.defaults()).receive(c);
            } catch (IOException | MigrationException e) {
                throw new IllegalStateException(e);
            }
        });
        try (l; ApiServer server = ApiServer.start(dir.resolve("api.sock"), g); ApiClient api = ApiClient.connect(server.path())) {
            ObjectNode args = ApiDriver.args("127.0.0.1:" + l.localAddress().getPort(), "d3");
            args.put("downtime-limit", "200ms");
            args.put("max-bandwidth", 1L << 30);
            JsonNode started = api.call("migrate", args);
            assertThat(started.path("status").asText()).isEqualTo("active");
            JsonNode q = ApiDriver.awaitEnd(api, Duration.ofSeconds(60));
            assertThat(q.path("status").asText()).as(q.toString()).isEqualTo("completed");
            assertThat(q.path("digest-match").asBoolean()).isTrue();
            assertThat(q.path("downtime-limit").asDouble()).isEqualTo(200.0);
            assertThat(q.path("max-bandwidth").asLong()).isEqualTo(1L << 30);
            assertThat(q.path("progress").path("phase").asText()).isEqualTo("completed");
            assertThat(q.path("rounds").size()).isGreaterThanOrEqualTo(2);
            // What a client rebuilds from the answer is what the source's --report file would hold.
            ObjectNode withoutProgress = ((ObjectNode) q).deepCopy();
            withoutProgress.remove("progress");
            ObjectNode rebuilt = (ObjectNode) JSON.readTree(ReportJson.report(q).toJsonString());
            // Exactly equal, derived values (ram.mbps) included: one schema writes and reads it.
            assertThat(rebuilt).isEqualTo(withoutProgress);

            assertThat(api.call("query-status").path("status").asText()).isEqualTo("migrated");
            assertThatThrownBy(() -> api.call("migrate", ApiDriver.args("127.0.0.1:9", "d3")))
                    .isInstanceOf(ApiException.class).hasMessageContaining("already migrated");
            assertThatThrownBy(() -> api.call("quit")).hasMessageContaining("already ended");
            Migratable dst = received.get(60, TimeUnit.SECONDS);
            dst.shutdown();
        } finally {
            g.quit();
        }
    }

    @Test
    void shouldReplaceAStaleSocketAndRefuseALiveOneOrAPlainFile(@TempDir Path dir) throws Exception {
        SyntheticControl g = new SyntheticControl("synthetic:mem=1M");
        try {
            Path sock = dir.resolve("api.sock");
            ApiServer first = ApiServer.start(sock, g);
            assertThatThrownBy(() -> ApiServer.start(sock, g)).hasMessageContaining("is in use");
            first.close();
            assertThat(sock).doesNotExist();
            // A socket file whose server died without cleaning up.
            try (var ch = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
                ch.bind(java.net.UnixDomainSocketAddress.of(sock));
            }
            assertThat(sock).exists();
            try (ApiServer again = ApiServer.start(sock, g)) {
                assertThat(Files.getPosixFilePermissions(sock)).containsExactlyInAnyOrder(   // rw for the owner only
                        java.nio.file.attribute.PosixFilePermission.OWNER_READ, java.nio.file.attribute.PosixFilePermission.OWNER_WRITE);
            }
            Path plain = Files.writeString(dir.resolve("plain"), "x");
            assertThatThrownBy(() -> ApiServer.start(plain, g)).hasMessageContaining("is not a socket");
            assertThatThrownBy(() -> ApiClient.connect(dir.resolve("none.sock"))).hasMessageContaining("is `d3vm run");
        } finally {
            g.quit();
        }
    }
}
