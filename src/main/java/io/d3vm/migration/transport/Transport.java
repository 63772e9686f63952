package io.d3vm.migration.transport;

import java.io.IOException;
import java.net.InetSocketAddress;

/**
 * Makes {@link Connection}s. The sender and receiver take one of these, so another channel slots
 * in without touching the engine: {@link TcpTransport} is the plain one, the TLS 1.3 channel is
 * {@code io.d3vm.migration.tls.TlsTransport}.
 */
public interface Transport {
    /** Connects to a listening receiver, failing after {@code timeoutMillis}. */
    Connection connect(InetSocketAddress to, int timeoutMillis) throws IOException;

    Listener listen(InetSocketAddress at) throws IOException;

    /** "tcp", "tls", … for reports. */
    String name();
}
