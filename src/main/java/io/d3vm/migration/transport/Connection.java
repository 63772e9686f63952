package io.d3vm.migration.transport;

import io.d3vm.sys.TcpInfo;

import java.io.Closeable;
import java.io.IOException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.Optional;

/**
 * One connected, bidirectional byte stream between a migration source and destination. The engine
 * only reads and writes through these channels; how the bytes travel (plain TCP, TLS, a test pipe)
 * is the {@link Transport}'s business.
 *
 * <p>{@link #close} must be callable from any thread and must make a blocked read or write fail
 * promptly: the stall watchdog relies on it.
 */
public interface Connection extends Closeable {
    ReadableByteChannel input();

    WritableByteChannel output();

    /** The peer, for messages ("127.0.0.1:7000"). */
    String peer();

    /**
     * Whether the peer is on this host (a loopback address): no network link between the two,
     * and the receiver shares this host's CPU.
     */
    default boolean loopback() {
        return false;
    }

    /**
     * What the kernel knows of this connection's TCP socket ({@link TcpInfo}: who held the sender
     * back, the delivery rate), or empty where there is none or it cannot say.
     */
    default Optional<TcpInfo> tcpInfo() {
        return Optional.empty();
    }

    /** Socket buffer size for {@link #preferLatency}: a batch of post-copy pages and a little more. */
    int LATENCY_BUFFER = 512 << 10;

    /**
     * From now on latency matters more than throughput (post-copy: a requested page waits behind
     * every byte queued before it, and the migration's large socket buffers hold megabytes): shrink
     * this side's socket buffers to {@link #LATENCY_BUFFER}. Best effort; by default nothing.
     */
    default void preferLatency() {}

    /** Closes both directions; idempotent; unblocks other threads' reads and writes. */
    @Override
    void close() throws IOException;
}
