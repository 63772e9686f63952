package io.d3vm.migration.tls;

import io.d3vm.migration.transport.Connection;
import io.d3vm.migration.transport.Listener;
import io.d3vm.migration.transport.Transport;

import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

/**
 * The migration channel over TLS 1.3 with mutual authentication (JDK {@code SSLSocket}): both peers
 * present a certificate from the {@link TlsDir}'s CA and refuse one that isn't (the server side sets
 * {@code needClientAuth}); no other protocol version is enabled. The CLI's {@code migrate} and
 * {@code receive} use it for {@code --tls-dir}; the engine sees only {@link Transport}.
 *
 * <p>The client handshakes inside {@link #connect} (bounded by the handshake timeout, not the
 * connect timeout), so a wrong destination fails there. The server
 * handshakes on the first read or write of an accepted connection — inside the receiver, whose
 * stall watchdog bounds it and whose error path reports it and keeps serving — so a refused peer
 * never blocks {@link Listener#accept} for the next one. A refused handshake is an {@link IOException}
 * saying why: the peer spoke plain TCP, presented no certificate, or one from another CA.
 *
 * <p>Peer identity is "holds a certificate from this CA"; host names are not checked (see
 * docs/SECURITY.md).
 */
public final class TlsTransport implements Transport {
    private static final int SOCKET_BUFFER = 4 << 20;
    private static final String[] PROTOCOLS = {"TLSv1.3"};

    private final TlsDir dir;
    private final int handshakeTimeoutMillis;

    /** @param handshakeTimeoutMillis the longest a handshake may take (either side) before the peer is dropped */
    public TlsTransport(TlsDir dir, int handshakeTimeoutMillis) {
        if (handshakeTimeoutMillis < 1) {
            throw new IllegalArgumentException("handshake timeout must be positive");
        }
        this.dir = dir;
        this.handshakeTimeoutMillis = handshakeTimeoutMillis;
    }

    /** The source's handshake bound when nothing else is said: the CLI's and the API's migrations alike. */
    public static final int DEFAULT_HANDSHAKE_TIMEOUT_MILLIS = 30_000;

    public TlsTransport(TlsDir dir) {
        this(dir, DEFAULT_HANDSHAKE_TIMEOUT_MILLIS);
    }

    @Override
    public Connection connect(InetSocketAddress to, int timeoutMillis) throws IOException {
        if (to.isUnresolved()) {
            throw new IOException("cannot resolve host " + to.getHostString());
        }
        Socket plain = new Socket();
        try {
            plain.setSendBufferSize(SOCKET_BUFFER);
            plain.setReceiveBufferSize(SOCKET_BUFFER);
            plain.connect(to, timeoutMillis);
            SSLSocket ssl = (SSLSocket) dir.context().getSocketFactory().createSocket(plain, to.getHostString(), to.getPort(), true);
            ssl.setUseClientMode(true);
            configure(ssl);
            TlsConnection c = new TlsConnection(plain, ssl, peerOf(plain), true);
            // The handshake has its own bound: a cold JVM on a busy host can need seconds for it,
            // more than a TCP connect timeout allows.
            plain.setSoTimeout(handshakeTimeoutMillis);
            c.handshake();
            plain.setSoTimeout(0); // from here the engine's stall watchdogs decide
            return c;
        } catch (IOException | RuntimeException e) {
            plain.close();
            throw e;
        }
    }

    @Override
    public Listener listen(InetSocketAddress at) throws IOException {
        ServerSocket server = new ServerSocket();
        try {
            server.setReuseAddress(true);
            server.setReceiveBufferSize(SOCKET_BUFFER);
            server.bind(at);
        } catch (IOException | RuntimeException e) {
            server.close();
            throw e;
        }
        return new Listener() {
            @Override
            public Connection accept() throws IOException {
                Socket plain = server.accept();
                try {
                    plain.setSendBufferSize(SOCKET_BUFFER);
                    SSLSocket ssl = (SSLSocket) dir.context().getSocketFactory().createSocket(plain, null, plain.getPort(), true);
                    ssl.setUseClientMode(false);
                    configure(ssl);
                    SSLParameters p = ssl.getSSLParameters();
                    p.setNeedClientAuth(true);
                    ssl.setSSLParameters(p);
                    return new TlsConnection(plain, ssl, peerOf(plain), false);
                } catch (IOException | RuntimeException e) {
                    plain.close();
                    throw e;
                }
            }

            @Override
            public InetSocketAddress localAddress() {
                return (InetSocketAddress) server.getLocalSocketAddress();
            }

            @Override
            public void close() throws IOException {
                server.close();
            }
        };
    }

    @Override
    public String name() {
        return "tls";
    }

    private static void configure(SSLSocket ssl) {
        ssl.setEnabledProtocols(PROTOCOLS);
        SSLParameters p = ssl.getSSLParameters();
        // Trust is "signed by the migration CA"; names are not checked (docs/SECURITY.md).
        p.setEndpointIdentificationAlgorithm(null);
        ssl.setSSLParameters(p);
    }

    private static String peerOf(Socket s) {
        return s.getInetAddress() == null ? "?" : s.getInetAddress().getHostAddress() + ":" + s.getPort();
    }

    /**
     * One TLS connection. {@link #close} closes the plain socket first: that fails blocked reads and
     * writes at once, where closing the {@code SSLSocket} alone may wait for a writer blocked on a
     * peer that stopped reading (the stall watchdog's case).
     */
    private final class TlsConnection implements Connection {
        private static final int CHUNK = 64 << 10;
        private final Socket plain;
        private final SSLSocket ssl;
        private final String peer;
        private final boolean client;
        private final Object handshakeLock = new Object();
        private volatile boolean handshaken;
        private IOException handshakeFailure;
        private volatile boolean closed;
        private InputStream in;
        private OutputStream out;
        private final ReadableByteChannel input = new In();
        private final WritableByteChannel output = new Out();

        TlsConnection(Socket plain, SSLSocket ssl, String peer, boolean client) {
            this.plain = plain;
            this.ssl = ssl;
            this.peer = peer;
            this.client = client;
        }

        @Override
        public boolean loopback() {
            return plain.getInetAddress() != null && plain.getInetAddress().isLoopbackAddress();
        }

        @Override
        public java.util.Optional<io.d3vm.sys.TcpInfo> tcpInfo() {
            return plain.getLocalSocketAddress() instanceof java.net.InetSocketAddress l
                    && plain.getRemoteSocketAddress() instanceof java.net.InetSocketAddress r
                    ? io.d3vm.sys.TcpInfo.of(l, r) : java.util.Optional.empty();
        }

        @Override
        public void preferLatency() {
            try {
                plain.setSendBufferSize(LATENCY_BUFFER);
                plain.setReceiveBufferSize(LATENCY_BUFFER);
            } catch (IOException ignored) {
                // a closed socket: the next read or write says so
            }
        }

        void handshake() throws IOException {
            if (handshaken) {
                return;
            }
            synchronized (handshakeLock) {
                if (handshakeFailure != null) {
                    throw handshakeFailure;
                }
                if (handshaken) {
                    return;
                }
                try {
                    if (!client) {
                        plain.setSoTimeout(handshakeTimeoutMillis);
                    }
                    ssl.startHandshake();
                    if (!client) {
                        plain.setSoTimeout(0);
                    }
                    in = ssl.getInputStream();
                    out = ssl.getOutputStream();
                    handshaken = true;
                } catch (IOException e) {
                    handshakeFailure = explain(e);
                    closeQuietly();
                    throw handshakeFailure;
                }
            }
        }

        private IOException explain(IOException e) {
            String who = client ? "the destination " + peer : "the peer " + peer;
            String m = messages(e);
            java.security.cert.CertificateException rejected = dir.trustFailure(ssl);
            if (rejected != null) {
                m = messages(rejected) + " / " + m; // our own verdict, which a hang-up can hide
            }
            String why;
            if (closed) {
                why = "the connection was closed during the TLS handshake";
            } else if (e instanceof SocketTimeoutException) {
                why = "no TLS handshake within " + handshakeTimeoutMillis + " ms";
            } else if (m.contains("Unsupported or unrecognized SSL message") || m.contains("plaintext connection")) {
                why = who + " does not speak TLS (run it with --tls-dir too, or drop --tls-dir on both ends on a trusted network)";
            } else if (m.contains("Empty client certificate chain") || m.contains("certificate_required")) {
                why = client ? "the destination wants a client certificate and got none" : who + " presented no certificate (start it with --tls-dir)";
            } else if (m.contains("PKIX path") || m.contains("unable to find valid certification path") || m.contains("certificate_unknown")
                    || m.contains("bad_certificate") || m.contains("unknown_ca")) {
                why = client
                        ? "certificates do not match: the destination's is not signed by the CA in " + dir.dir().resolve(TlsDir.CA_CERT)
                                + ", or it refused ours"
                        : who + "'s certificate is not signed by the CA in " + dir.dir().resolve(TlsDir.CA_CERT);
            } else if (m.contains("protocol_version") || m.contains("No appropriate protocol")) {
                why = who + " does not offer TLS 1.3";
            } else if (m.contains("Broken pipe") || m.contains("Connection reset") || m.contains("Remote host terminated")) {
                // In TLS 1.3 the source checks our certificate before it sends its own: a source of
                // another CA hangs up before we can check it, and whether we then read its alert or
                // fail writing is timing. Both mean the same, so both say the same.
                why = who + " hung up during the TLS handshake (" + m + "): most likely the two certificates are not from one CA"
                        + " (its certificate is not signed by the CA in " + dir.dir().resolve(TlsDir.CA_CERT) + ", or it does not trust ours)";
            } else if (e instanceof SSLHandshakeException || e instanceof SSLException) {
                why = m;
            } else {
                why = "connection failed during the TLS handshake: " + m;
            }
            return new SSLHandshakeException("TLS handshake with " + peer + " refused: " + why, e);
        }

        /**
         * The messages of {@code e}, its causes and suppressed exceptions: when the peer hangs up
         * while our alert is being sent, the exception thrown is "Broken pipe" and the certificate
         * failure that caused it hides in the chain.
         */
        private static String messages(Throwable e) {
            StringBuilder sb = new StringBuilder();
            java.util.Set<Throwable> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
            java.util.ArrayDeque<Throwable> todo = new java.util.ArrayDeque<>(java.util.List.of(e));
            while (!todo.isEmpty() && seen.size() < 16) {
                Throwable t = todo.pop();
                if (!seen.add(t)) {
                    continue;
                }
                sb.append(sb.isEmpty() ? "" : " / ").append(t.getMessage());
                if (t.getCause() != null) {
                    todo.add(t.getCause());
                }
                todo.addAll(java.util.List.of(t.getSuppressed()));
            }
            return sb.toString();
        }

        @Override
        public ReadableByteChannel input() {
            return input;
        }

        @Override
        public WritableByteChannel output() {
            return output;
        }

        @Override
        public String peer() {
            return peer;
        }

        @Override
        public void close() throws IOException {
            closed = true;
            try {
                plain.close();
            } finally {
                closeQuietly();
            }
        }

        private void closeQuietly() {
            closed = true;
            try {
                plain.close();
                ssl.close();
            } catch (IOException ignored) {
                // already closed underneath; nothing more to release
            }
        }

        /** Reads through a heap chunk when the caller's buffer is direct (the FrameDecoder's is). */
        private final class In implements ReadableByteChannel {
            private final byte[] chunk = new byte[CHUNK];

            @Override
            public int read(ByteBuffer dst) throws IOException {
                if (closed) {
                    throw new ClosedChannelException();
                }
                handshake();
                int want = Math.min(dst.remaining(), CHUNK);
                if (want == 0) {
                    return 0;
                }
                int n;
                try {
                    if (dst.hasArray()) {
                        n = in.read(dst.array(), dst.arrayOffset() + dst.position(), want);
                        if (n > 0) {
                            dst.position(dst.position() + n);
                        }
                    } else {
                        n = in.read(chunk, 0, want);
                        if (n > 0) {
                            dst.put(chunk, 0, n);
                        }
                    }
                } catch (SSLException e) {
                    throw alert(e);
                }
                return n;
            }

            @Override
            public boolean isOpen() {
                return !closed;
            }

            @Override
            public void close() throws IOException {
                TlsConnection.this.close();
            }
        }

        private final class Out implements WritableByteChannel {
            private final byte[] chunk = new byte[CHUNK];

            @Override
            public int write(ByteBuffer src) throws IOException {
                if (closed) {
                    throw new ClosedChannelException();
                }
                handshake();
                int n = src.remaining();
                try {
                    if (src.hasArray()) {
                        out.write(src.array(), src.arrayOffset() + src.position(), n);
                        src.position(src.position() + n);
                    } else {
                        while (src.hasRemaining()) {
                            int k = Math.min(src.remaining(), CHUNK);
                            src.get(chunk, 0, k);
                            out.write(chunk, 0, k);
                        }
                    }
                } catch (SSLException e) {
                    throw alert(e);
                }
                return n;
            }

            @Override
            public boolean isOpen() {
                return !closed;
            }

            @Override
            public void close() throws IOException {
                TlsConnection.this.close();
            }
        }

        /** After the handshake, an alert still means the peer refused us (TLS 1.3 checks client certificates late). */
        private IOException alert(SSLException e) {
            String m = String.valueOf(e.getMessage());
            if (client && (m.contains("bad_certificate") || m.contains("certificate_unknown") || m.contains("unknown_ca")
                    || m.contains("certificate_required"))) {
                return new SSLException("the destination " + peer + " refused our certificate (not signed by its CA?): " + m, e);
            }
            return e;
        }
    }
}
