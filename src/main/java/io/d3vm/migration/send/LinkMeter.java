package io.d3vm.migration.send;

/**
 * The link's rate as the writer sees it, over the last {@link #WINDOW} large writes, in bytes per
 * second of the time the link had to carry them.
 *
 * <p>A raw write's sample is its own time (socket writes and the rate limiter's waits). A
 * compressed write is different: while the writer compressed the buffer, the socket drained, so the
 * write finds room and reads fast — measured that way, compressed writes made a 1 Gbit/s link look
 * several times faster and {@code auto} stopped compressing half the time. When a compressed write
 * still had to wait for the socket ({@link #BLOCKED_NS}), the socket was full on both sides of it:
 * the link carried its bytes during the compression and the write, and that sum is its sample.
 * A compressed write that did not wait says only that the link is at least as fast as the writer;
 * {@link #unblocked} counts them in a row, and the compressor answers with a raw probe.
 * Written by the writer thread, read by the classifying thread.
 */
final class LinkMeter {
    static final int WINDOW = 8;
    /** Writes smaller than this say more about a wake-up than about the link. */
    static final int MIN_SAMPLE = 256 << 10;
    /** A write that waited at least this long found the socket full. */
    static final long BLOCKED_NS = 1_000_000;

    private final long[] bytes = new long[WINDOW];
    private final long[] nanos = new long[WINDOW];
    private int next;
    private int samples;
    private volatile double rate = Double.NaN;
    private volatile int unblocked;

    /**
     * One write of {@code n} bytes that took {@code writeNs}; {@code compressNs} is the time spent
     * compressing it just before (0 for a buffer that went raw).
     */
    void wrote(long n, long writeNs, long compressNs) {
        if (n < MIN_SAMPLE) {
            return;
        }
        long ns;
        if (compressNs == 0) {
            ns = writeNs;
        } else if (writeNs >= BLOCKED_NS) {
            ns = compressNs + writeNs;
        } else {
            unblocked++;
            return;
        }
        unblocked = 0;
        bytes[next] = n;
        nanos[next] = Math.max(1, ns);
        next = (next + 1) % WINDOW;
        samples = Math.min(WINDOW, samples + 1);
        long b = 0;
        long t = 0;
        for (int i = 0; i < samples; i++) {
            b += bytes[i];
            t += nanos[i];
        }
        rate = b * 1e9 / t;
    }

    /** Bytes per second, or NaN before a large write was measured. */
    double rate() {
        return rate;
    }

    /** Compressed writes in a row that found room in the socket (the link kept up with the writer). */
    int unblocked() {
        return unblocked;
    }
}
