package io.d3vm.migration.send;

/**
 * What the writer learns about the link from its writes. Written by the writer thread; {@link #rate}
 * is also read by the classifying thread.
 *
 * <p><b>Rate</b>, from raw writes: bytes per second of the time spent handing them to the
 * connection (socket writes and the rate limiter's waits), over the last {@link #WINDOW} large ones,
 * once {@link #SETTLE_BYTES} have been written: the socket's buffers take the first megabytes at
 * memory speed (a first raw write of 3.3 MB read as 500 MB/s on a 100 Mbit/s link, and three raw
 * buffers followed).
 * Compressed writes cannot measure it: while the writer compressed a buffer the socket drained, so
 * the write finds room and reads fast — counted, they made a 1 Gbit/s link look several times faster
 * and {@code auto} stopped compressing half the time.
 *
 * <p><b>Who waits</b>, from compressed writes: the share of the writer's busy time (compressing plus
 * writing) spent waiting for the socket, over the last {@link #SHARE_BYTES} written. A socket wakes
 * its writer only once a good part of its buffer has drained, so a slow link shows as one long wait
 * every megabyte or two between writes that find room (seen at 100 Mbit/s: 0.1 ms writes, then one
 * of 200-330 ms): single writes say little, a window of megabytes does. When the writer hardly ever
 * waits ({@link #waitShare} low), compression is what limits it, and a raw write may go faster; when
 * it mostly waits ({@link #waitShare} high), the link is the limit and compressing more pays.
 */
final class LinkMeter {
    static final int WINDOW = 8;
    /** Raw writes smaller than this say more about a wake-up than about the link. */
    static final int MIN_SAMPLE = 256 << 10;
    /** Compressed bytes written over which the writer's waiting share is judged. */
    static final long SHARE_BYTES = 4 << 20;
    /** Below this share of its busy time spent waiting for the socket, the writer, not the link, is the limit: a raw probe measures the link. */
    static final double WRITER_BOUND_SHARE = 0.1;
    private static final int RING = 64;
    /**
     * Bytes written before raw writes measure: Linux's largest default TCP send buffer
     * (net.ipv4.tcp_wmem, 4 MiB) and the queues below it take the first megabytes at memory speed
     * (with 4 MiB here, a 1 Gbit/s tbf link still read as 280-380 MB/s).
     */
    static final long SETTLE_BYTES = 8 << 20;
    private long total;

    private final long[] bytes = new long[WINDOW];
    private final long[] nanos = new long[WINDOW];
    private int next;
    private int samples;
    private volatile double rate = Double.NaN;
    /** The last {@link #waitShare} a decision was made on (read by the classifying thread). */
    private volatile double judgedShare = Double.NaN;

    private final long[] cBytes = new long[RING];
    private final long[] cBusy = new long[RING];
    private final long[] cWait = new long[RING];
    private int cNext;
    private int cCount;

    /**
     * One write of {@code n} bytes that took {@code writeNs}; {@code compressNs} is the time spent
     * compressing it just before (0 for a buffer that went raw).
     */
    void wrote(long n, long writeNs, long compressNs) {
        total += n;
        if (compressNs > 0) {
            cBytes[cNext] = n;
            cBusy[cNext] = compressNs + writeNs;
            cWait[cNext] = writeNs;
            cNext = (cNext + 1) % RING;
            cCount = Math.min(RING, cCount + 1);
            return;
        }
        if (n < MIN_SAMPLE || total <= SETTLE_BYTES) {
            return;
        }
        bytes[next] = n;
        nanos[next] = Math.max(1, writeNs);
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

    /** Bytes per second, or NaN before a large raw write was measured. */
    double rate() {
        return rate;
    }

    /**
     * The share of the writer's busy time spent waiting for the socket over the last
     * {@link #SHARE_BYTES} of compressed writes, or NaN before that many were written.
     */
    double waitShare() {
        long b = 0;
        long busy = 0;
        long wait = 0;
        for (int k = 1; k <= cCount && b < SHARE_BYTES; k++) {
            int i = (cNext - k + RING) % RING;
            b += cBytes[i];
            busy += cBusy[i];
            wait += cWait[i];
        }
        double share = b < SHARE_BYTES ? Double.NaN : (double) wait / Math.max(1, busy);
        if (!Double.isNaN(share)) {
            judgedShare = share;
        }
        return share;
    }

    /**
     * The share of its busy time the writer last spent waiting for the socket, as judged over a
     * window of compressed writes (NaN before one; it stays until the next judgement).
     */
    double judgedShare() {
        return judgedShare;
    }

    /** Drops the compressed writes seen so far (their window judged a decision already). */
    void forget() {
        cCount = 0;
    }
}
