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

    /** Large raw writes: bytes, nanoseconds. */
    private final Samples raw = new Samples(WINDOW, 2);
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
    /** Intervals through which data waited unsent: bytes acknowledged, nanoseconds. */
    private final Samples waited = new Samples(KERNEL_RING, 2);
    private long lastReadNanos = -1;
    private long lastAcked;
    private volatile double kernelRate = Double.NaN;

    /** Compressed writes: bytes, the writer's busy nanoseconds (compressing and writing), of which waiting for the socket. */
    private final Samples compressed = new Samples(RING, 3);

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
            waited.add(t.bytesAcked() - lastAcked, now - lastReadNanos);
            long[] sum = waited.newestUntil(1, KERNEL_WINDOW_NS);
            if (sum[1] >= KERNEL_MIN_SPAN_NS) {
                kernelRate = sum[0] * 1e9 / sum[1];
            }
        }
        lastReadNanos = now;
        lastAcked = t.bytesAcked();
    }

    /**
     * Data is written without a reading around it: the interval since the last reading no longer
     * tells of the link alone (the queue may have run dry before the data came), so the next
     * reading starts a new one.
     */
    void unobserved() {
        lastReadNanos = -1;
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
            compressed.add(n, compressNs + writeNs, writeNs);
            return;
        }
        if (n < MIN_SAMPLE || total <= SETTLE_BYTES) {
            return;
        }
        raw.add(n, Math.max(1, writeNs));
        long[] sum = raw.newestUntil(0, Long.MAX_VALUE);
        rate = sum[0] * 1e9 / sum[1];
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
        long[] sum = compressed.newestUntil(0, SHARE_BYTES);
        double share = sum[0] < SHARE_BYTES ? Double.NaN : (double) sum[2] / Math.max(1, sum[1]);
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
        compressed.clear();
    }

    /** The latest samples of a few quantities each, in a ring: what each window above sums. */
    private static final class Samples {
        private final long[][] values;
        private int next;
        private int count;

        Samples(int size, int quantities) {
            values = new long[quantities][size];
        }

        void add(long... sample) {
            for (int q = 0; q < values.length; q++) {
                values[q][next] = sample[q];
            }
            next = (next + 1) % values[0].length;
            count = Math.min(values[0].length, count + 1);
        }

        /** Each quantity summed over the newest samples, until quantity {@code q}'s sum reaches {@code limit} (or all are in). */
        long[] newestUntil(int q, long limit) {
            long[] sum = new long[values.length];
            int size = values[0].length;
            for (int k = 1; k <= count && sum[q] < limit; k++) {
                int i = (next - k + size) % size;
                for (int j = 0; j < values.length; j++) {
                    sum[j] += values[j][i];
                }
            }
            return sum;
        }

        void clear() {
            count = 0;
        }
    }
}
