package io.d3vm.migration.send;

import io.d3vm.migration.wire.FrameType;
import io.d3vm.migration.wire.PageCodec;
import io.d3vm.migration.wire.Wire;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Compresses the page data of the PAGES frames in an encoded buffer, on the writer thread (off the
 * classifying thread: two cores here, one classifies while the other compresses and writes). Every
 * other frame, and a batch whose data would not shrink, passes through unchanged ({@link Wire}'s
 * compressed PAGES layout).
 *
 * <p>{@code auto} compresses only what pays on this link. The writer compresses a buffer while the
 * socket still sends the one before, so compressing costs time only where the codec is slower than
 * the link: it pays when data shrinks at all ({@link #MAX_RATIO}) and {@code link < speed}.
 * {@code auto} asks for a margin ({@link #MARGIN}): the CPU compression takes is not free (on this
 * 2-core machine it is the destination's, as the bench runs both ends here; elsewhere the guest's
 * vCPUs'). Speed is measured on everything compressed, the link by {@link LinkMeter} (the
 * kernel's count of what the peer acknowledged while data waited), and the ratio per buffer: guest
 * memory is laid out by kind (kernel text, a gzip'd initramfs, page cache), so a ratio learnt from
 * earlier buffers was measured at 0.89 where the whole image compresses to 0.34, and held
 * compression off for a whole migration. So each buffer where compression could pay at all
 * ({@code link < MARGIN * speed}) has {@link #SAMPLES} frames spread over it compressed first as
 * they come, and every other frame is compressed when the ratio of this buffer's samples so far
 * says it shrinks. Where it cannot pay (uncapped, GB/s) one buffer in {@link #PROBE_EVERY} is
 * sampled, so the speeds stay measured.
 *
 * <p>Until the link is measured, every buffer is compressed: a slow link is where bytes matter, and
 * learning it on raw buffers first cost 14 MiB more on the idle image at 100 Mbit/s (41.1 MiB
 * against 27.0 compressing from the start). A fast link shows itself in the meantime: when
 * compressed writes hardly wait for the socket ({@link LinkMeter#waitShare}) and the kernel has
 * not measured the link, the next buffer is a probe that goes mostly raw, and its write measures
 * the link. When they mostly wait
 * ({@link #LINK_BOUND_SHARE}), the link is the limit whatever its measured rate says, and every
 * buffer is compressed; when they wait long enough that the next level up
 * ({@link PageCodec#levels}), at its measured cost ({@link PageCodec#levelSpeeds}), would still
 * leave the link the limit ({@link #stepUpShare}), zstd steps up: the writer has the time to spend
 * on fewer bytes.
 */
final class PageCompressor {
    static final int PROBE_EVERY = 16;
    /**
     * The share of the codec's speed below which the link's rate must be for {@code auto} to
     * compress. The speed is wall time inside the codec, so it counts the CPU the writer does not
     * get: in a traced 1 Gbit/s migration here it read 250-340 MB/s, and at 0.5 the link's
     * 120-130 MB/s sat on the edge — buffers went raw where compressing was twice as fast (2 of the
     * 10 idle runs at 1 Gbit/s of series 5 sent 7.5 and 15 MiB more than the median).
     */
    static final double MARGIN = 0.7;
    /** From this share of its busy time waiting for the socket, the writer compresses every buffer. */
    static final double LINK_BOUND_SHARE = 0.5;
    /** Page data a buffer's samples compress at most: enough for a ratio and a speed, little next to a 4 MiB buffer. */
    static final int SAMPLE_BYTES = 256 << 10;
    /** Frames a sample takes, spread over the buffer. */
    static final int SAMPLES = 16;

    private final PageCodec codec;
    private final boolean auto;
    private final LinkMeter link;
    private final ByteBuffer out;
    private long buffers;
    /** Packed/raw over what was compressed (exponentially averaged: memory changes as the rounds go). */
    private double ratio = Double.NaN;
    /** Whether the last buffer went out mostly compressed (its write is then measured as a compressed one). */
    private boolean packedLast;
    /** The last judgement of who waits: the link is the limit (every buffer compressed). */
    private boolean linkBound;
    private final int[] levels;
    private final double[] speeds;
    private int levelIndex;
    volatile int highestLevel;
    private long compressNanosLast;

    volatile long rawBytes;
    volatile long packedBytes;
    volatile long nanos;
    volatile long framesPacked;
    volatile long framesRaw;
    volatile long buffersSkipped;

    PageCompressor(PageCodec codec, boolean auto, LinkMeter link, int capacity) {
        this.codec = codec;
        this.auto = auto;
        this.link = link;
        this.out = ByteBuffer.allocateDirect(capacity).order(ByteOrder.LITTLE_ENDIAN);
        this.levels = codec.levels();
        this.speeds = codec.levelSpeeds();
        this.highestLevel = levels[0];
        // The codec's first call makes its native context: measured, it read as a tenth of the
        // codec's speed and held auto off for a whole 80 MB migration. Made here, untimed.
        ByteBuffer page = ByteBuffer.allocateDirect(Wire.PAGE_SIZE);
        codec.compress(page, 0, Wire.PAGE_SIZE, out, 0, Wire.PAGE_SIZE);
    }

    /** Bytes per second of compression so far (thread time inside the codec), or NaN before any. */
    double speed() {
        return nanos == 0 ? Double.NaN : rawBytes * 1e9 / nanos;
    }

    String codec() {
        return codec.name();
    }

    /** Frees the codec's native contexts; called once the writer thread is done. */
    void close() {
        codec.close();
    }

    /**
     * The bytes to write for {@code in} (positioned at 0, limit = its size): {@code in} itself when
     * this buffer goes raw, else a view of the compressed copy (valid until the next call).
     */
    ByteBuffer process(ByteBuffer in) {
        int size = in.limit();
        Mode mode = size > out.capacity() ? Mode.SKIP : mode();
        packedLast = false;
        compressNanosLast = 0;
        if (mode == Mode.SKIP) {
            buffersSkipped++;
            return in;
        }
        long nanos0 = nanos;
        long raw0 = rawBytes;
        long packed0 = packedBytes;
        long sampledRaw = 0;
        long sampledPacked = 0;
        int stride = Math.max(1, size / SAMPLES);
        int nextSample = 0;
        int o = 0;
        for (int p = 0; p < size; ) {
            int type = Short.toUnsignedInt(in.getShort(p + Wire.HDR_TYPE));
            int body = in.getInt(p + Wire.HDR_LENGTH);
            int frame = Wire.HEADER_SIZE + body;
            boolean isSample = mode != Mode.ALL && p >= nextSample && sampledRaw < SAMPLE_BYTES;
            boolean compress = type == FrameType.PAGES.code() && (mode == Mode.ALL || isSample
                    || mode == Mode.ADAPT && pays(sampledRaw > 0 ? (double) sampledPacked / sampledRaw : ratio));
            if (compress) {
                long offeredRaw = rawBytes;
                long offeredPacked = packedBytes;
                o += pages(in, p, body, o);
                if (isSample && rawBytes > offeredRaw) {
                    sampledRaw += rawBytes - offeredRaw;
                    sampledPacked += packedBytes - offeredPacked;
                    nextSample = p + stride; // a frame with page data was measured: the next one a stride on
                }
            } else {
                o += copy(in, p, frame, o);
            }
            p += frame;
        }
        long raw = rawBytes - raw0;
        if (raw > 0) {
            double r = (double) (packedBytes - packed0) / raw;
            ratio = Double.isNaN(ratio) ? r : 0.5 * ratio + 0.5 * r;
        }
        packedLast = mode != Mode.PROBE && o < size * 9L / 10;
        compressNanosLast = nanos - nanos0;
        return out.duplicate().order(ByteOrder.LITTLE_ENDIAN).limit(o).position(0);
    }

    /** What the next buffer gets: every PAGES frame compressed, samples and what they show pays, samples only, or nothing. */
    private enum Mode { ALL, ADAPT, PROBE, SKIP }

    private Mode mode() {
        if (!auto) {
            return Mode.ALL;
        }
        long n = buffers++;
        double share = link.waitShare();
        if (!Double.isNaN(share)) {
            if (share < LinkMeter.WRITER_BOUND_SHARE) {
                link.forget();
                linkBound = false;
                level(0);
                if (!link.kernelMeasured()) {
                    return Mode.PROBE; // compressed writes hardly waited for the socket: is the link faster than the writer?
                }
                // The kernel measured the link while data waited for it: the model below decides, no raw probe needed.
            } else {
                // Waiting while the link measured fast is waiting on something else (a receiver
                // short of CPU): compressing every buffer would not help, the model decides.
                linkBound = share >= LINK_BOUND_SHARE && !(link.rate() >= MARGIN * speed());
                if (linkBound && levelIndex < levels.length - 1
                        && share >= stepUpShare(speeds[levelIndex] / speeds[levelIndex + 1])) {
                    level(levelIndex + 1);
                } else if (!linkBound && levelIndex > 0) {
                    level(levelIndex - 1);
                }
            }
        }
        if (linkBound) {
            return Mode.ALL;
        }
        double l = link.rate();
        if (Double.isNaN(l) || Double.isNaN(speed())) {
            return Mode.ALL; // not measured yet: assume the link is slow, where bytes matter
        }
        if (l < MARGIN * speed()) {
            return Mode.ADAPT;
        }
        return n % PROBE_EVERY == 0 ? Mode.PROBE : Mode.SKIP;
    }

    /**
     * The share of its busy time the writer must wait for the socket before a level that takes
     * {@code cost} times as long: its compressing share {@code 1 - share} grows by {@code cost},
     * and the link must stay the limit ({@link #LINK_BOUND_SHARE}), else the next judgement steps
     * back down. zstd 1 to 3: 0.65; 3 to 6: 0.81 (a fixed 0.8 for both before: at 1 Gbit/s the
     * image workloads stayed at level 1 in every run of series 3; a fixed 0.6, tried, took busy to
     * level 3 in 2 of 5 runs — the writer's share itself was not recorded).
     */
    static double stepUpShare(double cost) {
        return 1 - (1 - LINK_BOUND_SHARE) / cost;
    }

    /** Compresses at {@code levels[index]} from the next frame; the writes so far were judged at the old one. */
    private void level(int index) {
        if (index != levelIndex) {
            levelIndex = index;
            codec.level(levels[index]);
            highestLevel = Math.max(highestLevel, levels[index]);
            link.forget();
        }
    }

    /**
     * The compression time to count with the last buffer's write ({@link LinkMeter#wrote}): the
     * time spent compressing it when it went out mostly compressed, 0 when it went mostly raw.
     */
    long compressNanosOfLast() {
        return packedLast ? Math.max(1, compressNanosLast) : 0;
    }

    /**
     * Whether compressing data that shrinks to {@code r} of its size pays on the link as measured:
     * it shrinks ({@link #MAX_RATIO}) and the codec outruns the link with {@link #MARGIN} to spare.
     * The writer compresses the next buffer while the socket still sends the last one, so
     * compressing costs time only where the codec is slower than the link; it is not charged in
     * full against the bytes saved (that serial model left a fifth to a third of the page data
     * raw at 1 Gbit/s, where forcing zstd on every buffer took the idle image 0.38-0.42 s against
     * 0.48-0.62 s, 25 MiB against 36-44; 2 runs each).
     */
    private boolean pays(double r) {
        return !Double.isNaN(r) && r < MAX_RATIO && link.rate() < MARGIN * speed();
    }

    /** Data that shrinks less than this (random bytes, compressed files) is not worth the codec's CPU. */
    static final double MAX_RATIO = 0.9;

    /** One PAGES frame at {@code p} into {@code out} at {@code o}; returns the bytes it took there. */
    private int pages(ByteBuffer in, int p, int body, int o) {
        int runs = in.getInt(p + Wire.HEADER_SIZE + Wire.PAGES_RUNS);
        int head = Wire.PAGES_FIXED + runs * Wire.RUN_SIZE;
        int data = body - head;
        if (data < Wire.PAGE_SIZE) {
            // less than a page of data (references, or none): not offered to the codec, not counted
            return copy(in, p, Wire.HEADER_SIZE + body, o);
        }
        int at = o + Wire.HEADER_SIZE + head + Wire.COMPRESSED_FIXED;
        long t0 = System.nanoTime();
        int n = codec.compress(in, p + Wire.HEADER_SIZE + head, data, out, at, data - Wire.COMPRESSED_FIXED - 1);
        nanos += System.nanoTime() - t0;
        rawBytes += data;
        if (n < 0) {
            packedBytes += data;
            framesRaw++;
            return copy(in, p, Wire.HEADER_SIZE + body, o);
        }
        out.put(o, in, p, Wire.HEADER_SIZE + head);
        out.putShort(o + Wire.HDR_FLAGS, (short) Wire.FLAG_COMPRESSED);
        out.putInt(o + Wire.HDR_LENGTH, head + Wire.COMPRESSED_FIXED + n);
        out.putInt(o + Wire.HEADER_SIZE + head + Wire.CMP_CODEC, codec.code());
        out.putInt(o + Wire.HEADER_SIZE + head + Wire.CMP_RAW, data);
        packedBytes += Wire.COMPRESSED_FIXED + n;
        framesPacked++;
        return Wire.HEADER_SIZE + head + Wire.COMPRESSED_FIXED + n;
    }

    private int copy(ByteBuffer in, int p, int length, int o) {
        out.put(o, in, p, length);
        return length;
    }
}
