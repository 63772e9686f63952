package io.d3vm.migration.transport;

import java.io.IOException;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Closes a connection whose peer has stopped moving bytes for longer than a timeout. Blocking
 * channels ignore {@code SO_TIMEOUT}, so a daemon thread polls a progress counter (bytes read or
 * written) and closes the {@link Connection} when it stands still while armed; the blocked call then
 * fails and {@link #fired} tells the engine to report a stall instead of a reset.
 *
 * <p>Used by the receiver (stalled senders) and the sender (a receiver that stopped reading, or an
 * ACK that never comes).
 */
public final class StallWatchdog implements AutoCloseable {
    private final Connection connection;
    private final LongSupplier progress;
    private final Thread thread;
    private volatile long timeoutNanos;
    private volatile boolean armed;
    private volatile boolean fired;
    private volatile boolean closed;
    private volatile long lastProgress;
    private volatile long lastChange;

    public StallWatchdog(Connection connection, LongSupplier progress, long timeoutMillis) {
        this.connection = connection;
        this.progress = progress;
        this.timeoutNanos = TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        this.lastChange = System.nanoTime();
        this.thread = Thread.ofPlatform().daemon().name("stall-watchdog").unstarted(this::watch);
        thread.start();
    }

    /** Starts watching with the given timeout, counting from now. */
    public void arm(long timeoutMillis) {
        timeoutNanos = TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        lastProgress = progress.getAsLong();
        lastChange = System.nanoTime();
        armed = true;
    }

    public void disarm() {
        armed = false;
    }

    /** True once the watchdog closed the connection. */
    public boolean fired() {
        return fired;
    }

    public long timeoutMillis() {
        return TimeUnit.NANOSECONDS.toMillis(timeoutNanos);
    }

    private void watch() {
        while (!closed) {
            long t = timeoutNanos;
            try {
                Thread.sleep(Math.max(10, Math.min(250, TimeUnit.NANOSECONDS.toMillis(t) / 4)));
            } catch (InterruptedException e) {
                return;
            }
            long p = progress.getAsLong();
            long now = System.nanoTime();
            if (p != lastProgress) {
                lastProgress = p;
                lastChange = now;
            } else if (armed && !closed && now - lastChange > timeoutNanos) {
                fired = true;
                try {
                    connection.close();
                } catch (IOException ignored) {
                    // closing is all we can do; the blocked call reports the failure
                }
                return;
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
    }
}
