package io.d3vm.migration.send;

import io.d3vm.sys.TcpInfo;

import java.util.Optional;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * What the writer learns about the link from its writes. Written by the writer thread; {@link #rate}
 * is also read by the classifying thread.
 *
 * <p><b>Rate</b>, from the kernel where it can say ({@link #observe}, a TCP connection): the bytes
 * the peer acknowledged per second over the intervals at whose end data still waited unsent in the
 * socket ({@link TcpInfo#notSentBytes}) — through such an interval the path always had data to take,
 * so it took it at its own rate, whatever the writer did meanwhile. Compressed and raw writes alike
 * measure it, and a socket buffer that drained while the writer compressed does not make the link
 * look fast. Where the writer keeps the queue empty the link is not measured: it is not the limit.
 *
 * <p>Otherwise, from raw writes: bytes per second of the time spent handing them to the
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

    /** Kernel intervals kept ({@link #observe}). */
    private static final int KERNEL_RING = 64;
    /** Time the kernel's intervals must span before they give a rate: acknowledgements come in steps of tens of kilobytes. */
    static final long KERNEL_MIN_SPAN_NS = 10_000_000;
    /** The rate is over the latest intervals until they span this long: the link as it is now, not at the start. */
    static final long KERNEL_WINDOW_NS = 100_000_000;
    private final Supplier<Optional<TcpInfo>> kernel;
    private final LongSupplier clock;
    private final long[] kAcked = new long[KERNEL_RING];
    private final long[] kNanos = new long[KERNEL_RING];
    private int kNext;
    private int kCount;
    private long lastReadNanos = -1;
    private long lastAcked;
    private volatile double kernelRate = Double.NaN;

    private final long[] cBytes = new long[RING];
    private final long[] cBusy = new long[RING];
    private final long[] cWait = new long[RING];
    private int cNext;
    private int cCount;

    /** A meter that learns from the writes alone. */
    LinkMeter() {
        this(null);
    }

    /**
     * A meter that also asks the kernel ({@code kernel}: the connection's {@link TcpInfo}, empty where
     * it cannot say), at each {@link #observe}.
     */
    LinkMeter(Supplier<Optional<TcpInfo>> kernel) {
        this(kernel, System::nanoTime);
    }

    /** As {@link #LinkMeter(Supplier)}, reading the time of each kernel reading from {@code clock} (nanoseconds). */
    LinkMeter(Supplier<Optional<TcpInfo>> kernel, LongSupplier clock) {
        this.kernel = kernel;
        this.clock = clock;
    }

    /**
     * Reads the kernel's counters (the writer calls it before and after each write: ~9 µs a reading
     * here). The interval since the last reading counts towards the rate when data still waits
     * unsent now: it waited throughout, since nothing was written in between, or what a write added
     * is still there.
     */
    void observe() {
        if (kernel == null) {
            return;
        }
        Optional<TcpInfo> info = kernel.get();
        long now = clock.getAsLong();
        if (info.isEmpty()) {
            lastReadNanos = -1;
            return;
        }
        TcpInfo t = info.get();
        if (lastReadNanos >= 0 && t.notSentBytes() > 0 && now > lastReadNanos && t.bytesAcked() >= lastAcked) {
            kAcked[kNext] = t.bytesAcked() - lastAcked;
            kNanos[kNext] = now - lastReadNanos;
            kNext = (kNext + 1) % KERNEL_RING;
            kCount = Math.min(KERNEL_RING, kCount + 1);
            long b = 0;
            long ns = 0;
            for (int k = 1; k <= kCount && ns < KERNEL_WINDOW_NS; k++) {
                int i = (kNext - k + KERNEL_RING) % KERNEL_RING;
                b += kAcked[i];
                ns += kNanos[i];
            }
            if (ns >= KERNEL_MIN_SPAN_NS) {
                kernelRate = b * 1e9 / ns;
            }
        }
        lastReadNanos = now;
        lastAcked = t.bytesAcked();
    }

    /** Whether the rate is the kernel's measure (else, if known, raw writes'). */
    boolean kernelMeasured() {
        return !Double.isNaN(kernelRate);
    }

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

    /** Bytes per second: the kernel's measure, else raw writes', or NaN before either. */
    double rate() {
        double k = kernelRate;
        return Double.isNaN(k) ? rate : k;
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
