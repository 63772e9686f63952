package io.d3vm.migration.transport;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.WritableByteChannel;

/**
 * Plain TCP through blocking {@link SocketChannel}s: direct buffers go to the kernel without a copy
 * through the Java heap, and the receiver reads large page runs straight into guest memory. Socket
 * buffers are enlarged (4 MiB) because the stream is one-directional bulk data; Nagle stays on since
 * the sender only writes large buffers.
 */
public final class TcpTransport implements Transport {
    static final int SOCKET_BUFFER = 4 << 20;

    @Override
    public Connection connect(InetSocketAddress to, int timeoutMillis) throws IOException {
        if (to.isUnresolved()) {
            throw new IOException("cannot resolve host " + to.getHostString());
        }
        SocketChannel ch = SocketChannel.open();
        try {
            ch.setOption(StandardSocketOptions.SO_SNDBUF, SOCKET_BUFFER);
            ch.setOption(StandardSocketOptions.SO_RCVBUF, SOCKET_BUFFER);
            // A blocking channel has no connect timeout; its socket adaptor has.
            ch.socket().connect(to, timeoutMillis);
            return new TcpConnection(ch);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    @Override
    public Listener listen(InetSocketAddress at) throws IOException {
        ServerSocketChannel server = ServerSocketChannel.open();
        try {
            server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            // Set before bind so accepted sockets negotiate a large window.
            server.setOption(StandardSocketOptions.SO_RCVBUF, SOCKET_BUFFER);
            server.bind(at);
        } catch (IOException | RuntimeException e) {
            server.close();
            throw e;
        }
        return new Listener() {
            @Override
            public Connection accept() throws IOException {
                SocketChannel ch = server.accept();
                ch.setOption(StandardSocketOptions.SO_SNDBUF, SOCKET_BUFFER);
                return new TcpConnection(ch);
            }

            @Override
            public InetSocketAddress localAddress() {
                try {
                    return (InetSocketAddress) server.getLocalAddress();
                } catch (IOException e) {
                    throw new IllegalStateException("listener closed", e);
                }
            }

            @Override
            public void close() throws IOException {
                server.close();
            }
        };
    }

    @Override
    public String name() {
        return "tcp";
    }

    private record TcpConnection(SocketChannel ch) implements Connection {
        @Override
        public void preferLatency() {
            try {
                ch.setOption(StandardSocketOptions.SO_SNDBUF, LATENCY_BUFFER);
                ch.setOption(StandardSocketOptions.SO_RCVBUF, LATENCY_BUFFER);
            } catch (IOException ignored) {
                // a closed socket: the next read or write says so
            }
        }

        @Override
        public ReadableByteChannel input() {
            return ch;
        }

        @Override
        public WritableByteChannel output() {
            return ch;
        }

        @Override
        public boolean loopback() {
            try {
                return ch.getRemoteAddress() instanceof InetSocketAddress a && a.getAddress() != null && a.getAddress().isLoopbackAddress();
            } catch (IOException e) {
                return false;
            }
        }

        @Override
        public java.util.Optional<io.d3vm.sys.TcpInfo> tcpInfo() {
            try {
                return ch.getLocalAddress() instanceof InetSocketAddress l && ch.getRemoteAddress() instanceof InetSocketAddress r
                        ? io.d3vm.sys.TcpInfo.of(l, r) : java.util.Optional.empty();
            } catch (IOException e) {
                return java.util.Optional.empty();
            }
        }

        @Override
        public String peer() {
            try {
                InetSocketAddress a = (InetSocketAddress) ch.getRemoteAddress();
                return a == null ? "?" : a.getHostString() + ":" + a.getPort();
            } catch (IOException e) {
                return "?";
            }
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }
}
