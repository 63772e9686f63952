package io.d3vm.migration.fault;

import io.d3vm.migration.MigrationException;
import io.d3vm.migration.synthetic.SyntheticGuest;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.send.MigrationSender;
import io.d3vm.migration.send.SendOptions;
import io.d3vm.migration.transport.TcpTransport;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Load: four running synthetic guests migrate at once from this JVM to a second one
 * ({@link ConcurrentReceiver}); every migration completes, both sides agree on every digest, and
 * every destination guest runs and matches the model of its own writes.
 */
class ConcurrentMigrationTest {
    static final int GUESTS = 4;

    @Test
    void shouldMigrateFourGuestsAtOnceWithEveryDigestMatching() throws Exception {
        Process p = new ProcessBuilder(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector", "-Xmx1g",
                "-cp", System.getProperty("java.class.path"), ConcurrentReceiver.class.getName(), String.valueOf(GUESTS)))
                .redirectErrorStream(true).start();
        try (var out = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream()))) {
            String first = out.readLine();
            while (first != null && !first.startsWith("listening on 127.0.0.1:")) {
                first = out.readLine(); // the JVM's own warnings come first
            }
            assertThat(first).as("the receiver process started").isNotNull();
            int port = Integer.parseInt(first.substring(first.lastIndexOf(':') + 1).trim());
            InetSocketAddress at = new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
            List<SyntheticGuest> guests = new ArrayList<>();
            List<CompletableFuture<MigrationReport>> runs = new ArrayList<>();
            for (int i = 0; i < GUESTS; i++) {
                SyntheticGuest g = SyntheticGuest.create("synthetic:mem=32M,zero=50,uniform=10,dirty-rate=2000,threads=1,seed=" + (40 + i));
                guests.add(g);
                runs.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        return new MigrationSender(g, SendOptions.defaults()).migrate(new TcpTransport(), at, 5000);
                    } catch (MigrationException e) {
                        throw new IllegalStateException(e.getMessage(), e);
                    }
                }));
            }
            List<String> digests = new ArrayList<>();
            for (int i = 0; i < GUESTS; i++) {
                MigrationReport r = runs.get(i).get(120, TimeUnit.SECONDS);
                assertThat(r.digestMatch).isTrue();
                assertThat(guests.get(i).isShutdown()).isTrue();
                digests.add("0x" + Long.toHexString(r.digest));
            }
            List<String> lines = new ArrayList<>();
            for (String line; (line = out.readLine()) != null && !line.equals("all done"); ) {
                if (line.startsWith("received ") || line.startsWith("failed ")) {
                    lines.add(line);
                }
            }
            assertThat(lines).as("the receiver's verdicts").hasSize(GUESTS).allMatch(l -> l.startsWith("received ")
                    && l.endsWith(" runs true model ok"));
            for (String d : digests) {
                assertThat(lines).anyMatch(l -> l.contains(" digest " + d + " "));
            }
        } finally {
            p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
    }
}
