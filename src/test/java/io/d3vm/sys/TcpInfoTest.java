package io.d3vm.sys;

import io.d3vm.testing.Awaits;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;
import static org.assertj.core.api.Assertions.assertThat;

class TcpInfoTest {
    private static final Duration WAIT = Duration.ofSeconds(20);

    @Test
    void shouldReadTheKernelsCountersOfALoopbackConnectionByItsAddresses() throws Exception {
        try (Loopback c = Loopback.open()) {
            int sent = 4 << 20;
            Thread reader = Thread.ofPlatform().start(() -> drain(c.peer(), sent));
            ByteBuffer b = ByteBuffer.allocateDirect(sent);
            while (b.hasRemaining()) {
                c.client().write(b);
            }
            reader.join(WAIT.toMillis());
            TcpInfo[] info = {null};
            Awaits.untilChecked("every byte acknowledged", WAIT, () -> {
                info[0] = TcpInfo.of(c.local(), c.remote()).orElseThrow();
                return info[0].bytesAcked() >= sent; // the kernel counts the SYN too on some versions
            });
            assertThat(info[0].bytesAcked()).isIn((long) sent, sent + 1L);
            assertThat(info[0].rttMicros()).isPositive();
            assertThat(info[0].notSentBytes()).as("nothing waits: all of it acknowledged").isZero();
            assertThat(TcpInfo.of(c.remote(), c.local())).as("the other end, as its own connection").isPresent()
                    .get().extracting(TcpInfo::bytesAcked).isIn(0L, 1L);
        }
    }

    @Test
    void shouldSeeTheReceiversWindowHoldTheSenderBackWhenTheReceiverDoesNotRead() throws Exception {
        try (Loopback c = Loopback.open()) {
            TcpInfo before = TcpInfo.of(c.local(), c.remote()).orElseThrow();
            c.client().configureBlocking(false);
            ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 20);
            // Fill the receiver's buffer and this side's: the peer never reads.
            Awaits.untilChecked("the socket buffers to fill", WAIT, () -> {
                chunk.clear();
                return c.client().write(chunk) == 0;
            });
            TcpInfo[] now = {null};
            Awaits.untilChecked("receiver-window-limited time to accrue", WAIT, () -> {
                now[0] = TcpInfo.of(c.local(), c.remote()).orElseThrow();
                return now[0].rwndLimitedMicros() - before.rwndLimitedMicros() > 20_000;
            });
            assertThat(now[0].rwndLimitedShareSince(before)).isGreaterThan(0.5);
            assertThat(now[0].notSentBytes()).as("what the full window holds back waits unsent").isPositive();
            assertThat(c.peer().isOpen()).isTrue();
        }
    }

    @Test
    void shouldKnowNothingOfAConnectionThatDoesNotExist() throws Exception {
        InetSocketAddress a = new InetSocketAddress(InetAddress.getLoopbackAddress(), 1);
        InetSocketAddress b = new InetSocketAddress(InetAddress.getLoopbackAddress(), 2);
        assertThat(TcpInfo.of(a, b)).isEmpty();
    }

    @Test
    void shouldRefuseErrorAnswersAndMalformedAttributes() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment error = arena.allocate(36);
            error.set(JAVA_INT_UNALIGNED, 0, 36);
            error.set(JAVA_SHORT_UNALIGNED, 4, (short) 2); // NLMSG_ERROR
            error.set(JAVA_INT_UNALIGNED, 16, -2);         // ENOENT
            assertThat(TcpInfo.parse(error)).isEmpty();

            MemorySegment answer = arena.allocate(16 + 72 + 4 + 232);
            answer.set(JAVA_INT_UNALIGNED, 0, (int) answer.byteSize());
            answer.set(JAVA_SHORT_UNALIGNED, 4, (short) 20); // SOCK_DIAG_BY_FAMILY
            answer.set(JAVA_SHORT_UNALIGNED, 88, (short) (4 + 232));
            answer.set(JAVA_SHORT_UNALIGNED, 90, (short) 2); // INET_DIAG_INFO
            answer.set(JAVA_LONG_UNALIGNED, 92 + TcpInfo.BUSY_TIME, 1000);
            answer.set(JAVA_LONG_UNALIGNED, 92 + TcpInfo.RWND_LIMITED, 250);
            Optional<TcpInfo> ok = TcpInfo.parse(answer);
            assertThat(ok).get().extracting(TcpInfo::busyMicros, TcpInfo::rwndLimitedMicros).containsExactly(1000L, 250L);

            answer.set(JAVA_SHORT_UNALIGNED, 88, (short) 4000); // an attribute longer than the message
            assertThat(TcpInfo.parse(answer)).isEmpty();
            answer.set(JAVA_INT_UNALIGNED, 0, 100_000);        // a message longer than what was read
            assertThat(TcpInfo.parse(answer)).isEmpty();
        }
    }

    @Test
    void shouldReadAShorterStructAsZerosPastItsEnd() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment old = arena.allocate(104); // a kernel before 4.1: nothing past tcpi_total_retrans
            old.set(JAVA_INT_UNALIGNED, TcpInfo.RTT, 77);
            TcpInfo t = TcpInfo.fromStruct(old);
            assertThat(t.rttMicros()).isEqualTo(77);
            assertThat(t.busyMicros()).isZero();
            assertThat(t.rwndLimitedShareSince(t)).isNaN();
        }
    }

    /** A connected loopback pair: {@code client} to {@code peer}, with the client's two addresses. */
    private record Loopback(ServerSocketChannel server, SocketChannel client, SocketChannel peer) implements AutoCloseable {
        static Loopback open() throws java.io.IOException {
            ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            SocketChannel client = SocketChannel.open(server.getLocalAddress());
            return new Loopback(server, client, server.accept());
        }

        InetSocketAddress local() throws java.io.IOException {
            return (InetSocketAddress) client.getLocalAddress();
        }

        InetSocketAddress remote() throws java.io.IOException {
            return (InetSocketAddress) client.getRemoteAddress();
        }

        @Override
        public void close() throws java.io.IOException {
            try (server; client; peer) {
                // all three closed, in reverse order
            }
        }
    }

    private static void drain(SocketChannel peer, int bytes) {
        ByteBuffer in = ByteBuffer.allocateDirect(1 << 20);
        long got = 0;
        try {
            while (got < bytes) {
                in.clear();
                int n = peer.read(in);
                if (n < 0) {
                    return;
                }
                got += n;
            }
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
