package io.d3vm.api;

import io.d3vm.testing.ApiDriver;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.d3vm.kvm.KvmTestSupport;
import io.d3vm.migration.MigrationException;
import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.migration.recv.MigrationReceiver;
import io.d3vm.migration.recv.ReceiverLimits;
import io.d3vm.migration.transport.Connection;
import io.d3vm.migration.transport.Listener;
import io.d3vm.migration.transport.TcpTransport;
import io.d3vm.vmm.vstate.ConsoleCapture;
import io.d3vm.vmm.vstate.KvmGuestFactory;
import io.d3vm.vmm.vstate.TestGuestSupport;
import io.d3vm.vmm.vstate.Vm;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * KVM test guests migrated through the control API to a receiver in this JVM (the process boundary
 * is covered by {@link LiveMigrationProcessTest}): how much each detector sends, and cancellation.
 */
@Tag("kvm")
class InProcessLiveMigrationTest {
    static final Duration WAIT = Duration.ofSeconds(90);

    /** A receiver on loopback that takes one migration of a test guest into a KVM VM. */
    static final class Destination implements AutoCloseable {
        private final Listener listener;
        private final ConsoleCapture console = new ConsoleCapture();
        private final CompletableFuture<Object> result;
        private volatile boolean taken;

        private Destination() throws Exception {
            listener = new TcpTransport().listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            GuestFactories f = new GuestFactories().register("test", new KvmGuestFactory(KvmTestSupport.kvm(), 1, console));
            result = CompletableFuture.supplyAsync(() -> {
                try (Connection c = listener.accept()) {
                    return new MigrationReceiver(f, ReceiverLimits.defaults()).receive(c);
                } catch (MigrationException e) {
                    return e;
                } catch (Exception e) {
                    return new MigrationException("receiver: " + e);
                }
            });
        }

        static Destination start() throws Exception {
            return new Destination();
        }

        String address() {
            return "127.0.0.1:" + listener.localAddress().getPort();
        }

        ConsoleCapture console() {
            return console;
        }

        CompletableFuture<Object> result() {
            return result;
        }

        /** The received, running guest; the caller owns it from here. */
        Vm guest() throws Exception {
            Object o = result.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertThat(o).as("receiver outcome").isInstanceOf(Vm.class);
            taken = true;
            return (Vm) o;
        }

        @Override
        public void close() throws Exception {
            listener.close();
            if (!taken && result.getNow(null) instanceof Migratable m) {
                m.shutdown();
            }
        }
    }

    @Test
    void shouldSendTheWholeMemoryWithDetectorNoneAndFarLessWithD3(@TempDir Path dir) throws Exception {
        ConsoleCapture console = new ConsoleCapture();
        Vm a = TestGuestSupport.load("test:idle,mem=128M,tick-ms=200", console);
        Vm b;
        JsonNode none;
        JsonNode d3;
        try (Destination toB = Destination.start(); ApiServer api = ApiServer.start(dir.resolve("a.sock"), new VmGuest(a, null))) {
            a.start();
            console.await("d3guest: tick=\\d+ .*", WAIT);
            // Console input the guest has not read yet is device state: it must cross too.
            byte[] typed = "typed before the move".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            a.serial().enqueueInput(typed, typed.length);
            // The send-everything baseline: no compression or references on top.
            none = ApiDriver.migrate(api.path(), ApiDriver.args(toB.address(), "none").put("compress", "none").put("duplicates", "off"), WAIT);
            b = toB.guest();
            assertThat(b.serial().save().rxBuffer()).isEqualTo(typed);
        } finally {
            a.close();
        }
        // The same guest, now running in B, moves on with d3.
        try (b; Destination toC = Destination.start(); ApiServer api = ApiServer.start(dir.resolve("b.sock"), new VmGuest(b, null))) {
            d3 = ApiDriver.migrate(api.path(), ApiDriver.args(toC.address(), "d3"), WAIT);
            try (Vm c = toC.guest()) {
                Matcher t = toC.console().await("d3guest: tick=\\d+ .*", WAIT);
                toC.console().await("d3guest: tick=\\d+ .*", t.end(), WAIT);
            }
        }
        long total = 128L << 20;
        assertThat(none.path("status").asText()).as(none.toString()).isEqualTo("completed");
        assertThat(d3.path("status").asText()).as(d3.toString()).isEqualTo("completed");
        assertThat(none.path("ram").path("total").asLong()).isEqualTo(total);
        // none sends every page with its data in round 1, so at least the whole memory.
        assertThat(none.path("ram").path("transferred").asLong()).isGreaterThanOrEqualTo(total);
        assertThat(none.path("d3").path("pages").path("zero").asLong()).isZero();
        // An idle guest's memory is nearly all zero: d3 sends it as metadata.
        assertThat(d3.path("ram").path("transferred").asLong()).isLessThan(none.path("ram").path("transferred").asLong() / 10);
        assertThat(d3.path("d3").path("pages").path("zero").asLong()).isGreaterThan(total / 4096 / 2);
        assertThat(none.path("digest-match").asBoolean()).isTrue();
        assertThat(d3.path("digest-match").asBoolean()).isTrue();
    }

    @Test
    void shouldLeaveTheSourceRunningWhenTheMigrationIsCancelled(@TempDir Path dir) throws Exception {
        ConsoleCapture console = new ConsoleCapture();
        try (Vm a = TestGuestSupport.load("test:verify,mem=64M,seed=4,tick-ms=200", console);
             Destination dst = Destination.start();
             ApiServer server = ApiServer.start(dir.resolve("a.sock"), new VmGuest(a, null))) {
            a.start();
            console.await("d3guest: verify pass=1 ok", WAIT);
            try (ApiClient api = ApiClient.connect(server.path())) {
                ObjectNode args = ApiDriver.args(dst.address(), "none");
                args.put("max-bandwidth", "2M");
                api.call("migrate", args);
                ApiDriver.awaitTransferred(api, 2L << 20, WAIT);
                JsonNode c = api.call("migrate-cancel");
                assertThat(c.path("status").asText()).isEqualTo("cancelled");
                assertThat(c.path("guest-running-here").asBoolean()).isTrue();
                JsonNode q = api.call("query-migrate");
                assertThat(q.path("status").asText()).isEqualTo("cancelled");
                assertThat(q.path("error").asText()).contains("cancelled").contains("keeps running here");
                // Consistent after a cancel mid-round: the phase says what the status says, and the
                // normal pages sent are the normal pages the report counts (docs/REPORT.md).
                assertThat(q.path("progress").path("phase").asText()).isEqualTo("cancelled");
                assertThat(q.path("ram").path("normal").asLong()).isPositive()
                        .isEqualTo(q.path("d3").path("pages").path("normal").asLong());
                assertThat(api.call("query-status").path("status").asText()).isEqualTo("running");
            }
            assertThat(dst.result().get(WAIT.toSeconds(), TimeUnit.SECONDS)).isInstanceOf(MigrationException.class);
            int mark = console.text().length();
            Matcher p = console.await("d3guest: verify pass=\\d+ ok", mark, WAIT);
            console.await("d3guest: verify pass=\\d+ ok", p.end(), WAIT);
            console.await("d3guest: tick=\\d+ .*", mark, WAIT);
            assertThat(console.text()).doesNotContain("MISMATCH");
            assertThat(a.outcomeNow()).isNull();
        }
    }
}
