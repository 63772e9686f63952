package io.d3vm.migration.send;

import io.d3vm.testing.Awaits;
import io.d3vm.migration.report.MigrationStatus;
import io.d3vm.migration.MigrationException;
import io.d3vm.migration.synthetic.SyntheticGuest;
import io.d3vm.migration.transport.TcpTransport;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The destination is a real second JVM ({@code d3vm receive}) killed with SIGKILL in the middle of
 * round 1: the source guest must keep running with its memory unchanged.
 */
class ReceiverKilledTest {

    @Test
    void shouldLeaveTheSourceRunningWithItsDigestUnchangedWhenTheReceiverProcessIsKilled() throws Exception {
        Process receiver = new ProcessBuilder(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector",
                "-cp", System.getProperty("java.class.path"),
                "io.d3vm.cli.Main", "receive", "--listen", "127.0.0.1:0", "--once"))
                .redirectErrorStream(true)
                .start();
        SyntheticGuest guest = SyntheticGuest.create("synthetic:mem=64M,zero=20,uniform=10,seed=21");
        try {
            int port = portOf(receiver);
            long before = guest.digest();
            // Slow enough (8 MiB/s, every page sent) that round 1 is still running when the receiver dies.
            MigrationSender sender = new MigrationSender(guest, SendOptions.defaults().withDetector("none").withMaxBandwidth(8L << 20));
            CompletableFuture<Throwable> outcome = CompletableFuture.supplyAsync(() -> {
                try {
                    sender.migrate(new TcpTransport(), new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 5000);
                    return null;
                } catch (MigrationException e) {
                    return e;
                }
            });
            Awaits.until("4 MiB sent", Duration.ofSeconds(60), () -> sender.progress().bytesSent() >= (4L << 20) || outcome.isDone());
            assertThat(outcome.isDone()).as("migration still running when the receiver is killed").isFalse();
            assertThat(sender.progress().phase()).isEqualTo(SendPhase.PRE_COPY);
            receiver.destroyForcibly().waitFor(30, TimeUnit.SECONDS);

            Throwable failure = outcome.get(60, TimeUnit.SECONDS);
            assertThat(failure).isInstanceOf(MigrationException.class).hasMessageContaining("keeps running here");
            assertThat(sender.report().status).isEqualTo(MigrationStatus.FAILED);
            assertThat(guest.isShutdown()).isFalse();
            assertThat(guest.isPaused()).isFalse();
            assertThat(guest.digest()).isEqualTo(before);
        } finally {
            receiver.destroyForcibly();
            guest.shutdown();
        }
    }

    private static int portOf(Process p) throws Exception {
        BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        Pattern listening = Pattern.compile("listening on [^ ]+:(\\d+) ");
        CompletableFuture<Integer> port = CompletableFuture.supplyAsync(() -> {
            try {
                StringBuilder seen = new StringBuilder();
                for (String line; (line = r.readLine()) != null; ) {
                    Matcher m = listening.matcher(line);
                    if (m.find()) {
                        // keep draining so the child never blocks on a full pipe
                        Thread.ofPlatform().daemon().start(() -> r.lines().forEach(l -> { }));
                        return Integer.parseInt(m.group(1));
                    }
                    seen.append(line).append('\n');
                }
                throw new IllegalStateException("receiver exited without listening:\n" + seen);
            } catch (java.io.IOException e) {
                throw new IllegalStateException(e);
            }
        });
        return port.get(60, TimeUnit.SECONDS);
    }
}
