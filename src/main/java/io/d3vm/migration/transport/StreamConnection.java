package io.d3vm.migration.transport;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

/**
 * A {@link Connection} over a stream socket, for transports that have no channel: an
 * {@code SSLSocket} (TLS 1.3) is the intended user. Costs one extra copy through a heap buffer per
 * read and write compared with {@link TcpTransport}.
 */
public final class StreamConnection implements Connection {
    private final Socket socket;
    private final ReadableByteChannel in;
    private final WritableByteChannel out;

    public StreamConnection(Socket socket) throws IOException {
        this.socket = socket;
        InputStream is = socket.getInputStream();
        OutputStream os = socket.getOutputStream();
        this.in = Channels.newChannel(is);
        this.out = Channels.newChannel(os);
    }

    @Override
    public ReadableByteChannel input() {
        return in;
    }

    @Override
    public WritableByteChannel output() {
        return out;
    }

    @Override
    public String peer() {
        return socket.getInetAddress() == null ? "?" : socket.getInetAddress().getHostAddress() + ":" + socket.getPort();
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
