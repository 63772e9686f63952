package io.d3vm.migration.fault;

import io.d3vm.testing.D3vmProcess;
import io.d3vm.memory.MemoryLayout;
import io.d3vm.migration.MigrationException;
import io.d3vm.migration.synthetic.SyntheticGuest;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.send.MigrationSender;
import io.d3vm.migration.send.SendOptions;
import io.d3vm.migration.transport.TcpTransport;
import io.d3vm.migration.wire.FrameBuffer;
import io.d3vm.migration.wire.FrameType;
import io.d3vm.migration.wire.Wire;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A real {@code d3vm receive} process with tight limits refuses an oversized guest, an oversized
 * frame and a stalled peer — each with a clear error — and is still there to complete the next
 * migration; with {@code --once} it exits with status 1 after one refusal.
 */
class ReceiverLimitsTest {

    @Test
    void shouldRefuseEachLimitClearlyAndServeTheNextMigration() throws Exception {
        try (D3vmProcess rx = D3vmProcess.startC1("receive", "--listen", "127.0.0.1:0", "--max-memory", "16M", "--max-frame", "2060K",
                // 3 s, not less: on a loaded CI machine a good sender can pause for a second.
                "--read-timeout", "3s")) {
            InetSocketAddress at = new InetSocketAddress(InetAddress.getLoopbackAddress(), rx.listeningPort());

            // 1. A guest over --max-memory: refused at setup, before the receiver allocates anything.
            SyntheticGuest big = SyntheticGuest.create("synthetic:mem=32M,seed=1");
            try {
                assertThatThrownBy(() -> new MigrationSender(big, SendOptions.defaults()).migrate(new TcpTransport(), at, 5000))
                        .isInstanceOf(MigrationException.class)
                        .hasMessageContaining("exceeds this receiver's limit of 16777216 bytes (receive --max-memory)");
                assertThat(big.isPaused()).isFalse();
            } finally {
                big.shutdown();
            }
            rx.awaitMatch("d3vm: refused the migration: guest memory of 33554432 bytes exceeds", Duration.ofSeconds(30));

            // 2. A frame longer than --max-frame: refused from its header, before its body is read.
            try (Socket s = new Socket(at.getAddress(), at.getPort())) {
                ByteBuffer h = ByteBuffer.allocate(Wire.HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
                h.putShort((short) FrameType.STATE.code()).putShort((short) 0).putInt(64 << 20);
                s.getOutputStream().write(h.array());
                assertThat(drainsToEnd(s.getInputStream())).as("the receiver closes the connection").isTrue();
            }
            rx.awaitMatch("exceeds the maximum frame length of 2109440", Duration.ofSeconds(30));

            // 3. A peer that says hello and then nothing: dropped after --read-timeout.
            try (Socket s = new Socket(at.getAddress(), at.getPort())) {
                FrameBuffer fb = new FrameBuffer(FrameBuffer.MIN_CAPACITY);
                fb.handshake("synthetic:mem=1M", Wire.FEATURE_DIGEST);
                fb.layout(MemoryLayout.flat(1 << 20));
                fb.writeTo(Channels.newChannel(s.getOutputStream()));
                s.setSoTimeout(60_000);
                assertThat(drainsToEnd(s.getInputStream())).as("the receiver hangs up on a silent peer").isTrue();
            }
            rx.awaitMatch("sent nothing for 3000 ms .*read timeout", Duration.ofSeconds(30));

            // 4. Still serving: a good migration completes.
            SyntheticGuest ok = SyntheticGuest.create("synthetic:mem=8M,zero=50,uniform=10,dirty-rate=200,seed=2");
            MigrationReport r = new MigrationSender(ok, SendOptions.defaults()).migrate(new TcpTransport(), at, 5000);
            assertThat(r.digestMatch).isTrue();
            assertThat(ok.isShutdown()).isTrue();
            rx.awaitMatch("is running here", Duration.ofSeconds(30));
            assertThat(rx.isAlive()).isTrue();
        }
    }

    @Test
    void shouldExitWithStatusOneAfterARefusalWithOnce() throws Exception {
        try (D3vmProcess rx = D3vmProcess.startC1("receive", "--listen", "127.0.0.1:0", "--once", "--read-timeout", "1s")) {
            int port = rx.listeningPort();
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                s.getOutputStream().write("GET / HTTP/1.1\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                drainsToEnd(s.getInputStream());
            }
            assertThat(rx.waitFor(Duration.ofSeconds(30))).isEqualTo(1);
            assertThat(rx.text()).contains("d3vm: protocol error").contains("unknown frame type");
        }
    }

    /** Reads until the peer closes; true on a clean end of stream or a reset (either way it hung up). */
    private static boolean drainsToEnd(InputStream in) {
        byte[] b = new byte[4096];
        try {
            while (in.read(b) >= 0) {
                // the receiver may send an ABORT first
            }
            return true;
        } catch (java.net.SocketTimeoutException e) {
            return false;
        } catch (java.io.IOException e) {
            return true; // connection reset
        }
    }
}
