package io.d3vm.migration.transport;

import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;

/** A bound endpoint that accepts incoming migration connections; made by a {@link Transport}. */
public interface Listener extends Closeable {
    /** Blocks until a peer connects. */
    Connection accept() throws IOException;

    /** The bound address (with the real port when 0 was asked for). */
    InetSocketAddress localAddress();
}
