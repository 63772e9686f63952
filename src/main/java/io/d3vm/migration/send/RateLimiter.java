package io.d3vm.migration.send;

import java.util.concurrent.locks.LockSupport;

/**
 * A token bucket on bytes sent: the {@code --max-bandwidth} QoS knob that keeps a migration from
 * starving co-located guests of network. Tokens accrue at {@code bytesPerSecond} up to a bucket of
 * 50 ms worth; a write takes its bytes' worth and, when that drives the bucket negative, the writer
 * sleeps until the debt is paid. Used by the sender's writer thread only.
 *
 * <p>The cap is for the live rounds, while the guest runs: {@link #lift} ends it for the pause, when
 * the guest is stopped and every millisecond on the wire is downtime (QEMU's migration_completion
 * lifts its rate limit the same way). Post-copy's stream after GO has a limit of its own
 * ({@link #limit}: {@code --max-postcopy-bandwidth}, as QEMU's {@code max-postcopy-bandwidth}).
 */
public final class RateLimiter {
    private volatile long bytesPerSecond;
    private volatile double capacity;
    private double tokens;
    private long last;
    private volatile boolean lifted;

    /** @param bytesPerSecond the limit; 0 means unlimited */
    public RateLimiter(long bytesPerSecond) {
        if (bytesPerSecond < 0) {
            throw new IllegalArgumentException("negative bandwidth");
        }
        this.bytesPerSecond = bytesPerSecond;
        this.capacity = Math.max(64 * 1024, bytesPerSecond / 20.0);
        this.tokens = capacity;
        this.last = System.nanoTime();
    }

    /** A new limit from now on (0: none), e.g. post-copy's after the pause lifted the live rounds' one. */
    public void limit(long newBytesPerSecond) {
        if (newBytesPerSecond < 0) {
            throw new IllegalArgumentException("negative bandwidth");
        }
        capacity = Math.max(64 * 1024, newBytesPerSecond / 20.0);
        bytesPerSecond = newBytesPerSecond;
        lifted = false;
    }

    public boolean unlimited() {
        return bytesPerSecond == 0 || lifted;
    }

    /** No limit from now on (the switch-over). */
    public void lift() {
        lifted = true;
    }

    public long bytesPerSecond() {
        return bytesPerSecond;
    }

    /** Largest piece a limited writer should send at once, so the link sees a steady rate, not bursts. */
    public int chunk() {
        return unlimited() ? Integer.MAX_VALUE : (int) Math.max(16 * 1024, Math.min(256 * 1024, bytesPerSecond / 50));
    }

    /** Takes {@code bytes} tokens, sleeping as long as the bucket is in debt. */
    public void acquire(long bytes) throws InterruptedException {
        if (unlimited()) {
            return;
        }
        long now = System.nanoTime();
        tokens = Math.min(capacity, tokens + (now - last) * bytesPerSecond / 1e9);
        last = now;
        tokens -= bytes;
        if (tokens < 0) {
            long sleep = (long) (-tokens * 1e9 / bytesPerSecond);
            long deadline = now + sleep;
            while (System.nanoTime() < deadline) {
                LockSupport.parkNanos(deadline - System.nanoTime());
                if (Thread.interrupted()) {
                    throw new InterruptedException("rate limiter");
                }
            }
        }
    }
}
