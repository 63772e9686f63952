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
 * <p>{@code auto} compresses a buffer only when it pays on this link: the writer is serial, so
 * compressing {@code B} bytes costs {@code B / speed} and saves {@code B * (1 - ratio) / link}; it
 * pays when {@code link < speed * (1 - ratio)}; {@code auto} asks for twice that margin
 * ({@link #MARGIN}), because the CPU compression takes is not free: on this 2-core machine it is
 * the destination's (the bench runs both ends here), elsewhere the guest's vCPUs'. Measured on
 * the busy Debian image uncapped on loopback, the plain model compressed 385 of 535 frames and
 * took 396 ms against 291 ms raw. Speed and ratio are measured on the buffers it
 * compressed, the link by {@link LinkMeter}. While it does not pay, one buffer in
 * {@link #PROBE_EVERY} still has a sample of {@link #SAMPLE_BYTES} compressed, so the estimates
 * follow the memory and the link for a few per cent of one compression's cost.
 * Uncapped on loopback the link is several GB/s and nothing is compressed; at 1 Gbit/s it is.
 */
final class PageCompressor {
    static final int PROBE_EVERY = 16;
    /** The share of the modelled break-even link rate below which {@code auto} compresses. */
    static final double MARGIN = 0.5;
    /** Page data a probe compresses: enough for a ratio and a speed, little next to a 4 MiB buffer. */
    static final int SAMPLE_BYTES = 256 << 10;

    private final PageCodec codec;
    private final boolean auto;
    private final LinkMeter link;
    private final ByteBuffer out;
    private long buffers;
    /** Bytes per second of compression, and packed/raw, over what was compressed (exponentially averaged). */
    private double speed = Double.NaN;
    private double ratio = Double.NaN;

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
    }

    String codec() {
        return codec.name();
    }

    LinkMeter link() {
        return link;
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
        long budget = size > out.capacity() ? 0 : budget();
        if (budget == 0) {
            buffersSkipped++;
            return in;
        }
        long nanos0 = nanos;
        long raw0 = rawBytes;
        long packed0 = packedBytes;
        int o = 0;
        for (int p = 0; p < size; ) {
            int type = Short.toUnsignedInt(in.getShort(p + Wire.HDR_TYPE));
            int body = in.getInt(p + Wire.HDR_LENGTH);
            int frame = Wire.HEADER_SIZE + body;
            if (type == FrameType.PAGES.code() && rawBytes - raw0 < budget) {
                o += pages(in, p, body, o);
            } else {
                o += copy(in, p, frame, o);
            }
            p += frame;
        }
        long dt = nanos - nanos0;
        long raw = rawBytes - raw0;
        if (raw > 0) {
            double s = raw * 1e9 / Math.max(1, dt);
            double r = (double) (packedBytes - packed0) / raw;
            speed = Double.isNaN(speed) ? s : 0.7 * speed + 0.3 * s;
            ratio = Double.isNaN(ratio) ? r : 0.7 * ratio + 0.3 * r;
        }
        return out.duplicate().order(ByteOrder.LITTLE_ENDIAN).limit(o).position(0);
    }

    /** Page data bytes to compress in the next buffer: all of them, a probe's sample, or none. */
    private long budget() {
        if (!auto) {
            return Long.MAX_VALUE;
        }
        long n = buffers++;
        double l = link.rate();
        if (Double.isNaN(speed) || Double.isNaN(l)) {
            return SAMPLE_BYTES; // learn both before deciding
        }
        if (l < MARGIN * speed * (1 - ratio)) {
            return Long.MAX_VALUE;
        }
        return n % PROBE_EVERY == 0 ? SAMPLE_BYTES : 0;
    }

    /** One PAGES frame at {@code p} into {@code out} at {@code o}; returns the bytes it took there. */
    private int pages(ByteBuffer in, int p, int body, int o) {
        int runs = in.getInt(p + Wire.HEADER_SIZE + Wire.PAGES_RUNS);
        int head = Wire.PAGES_FIXED + runs * Wire.RUN_SIZE;
        int data = body - head;
        if (data < Wire.PAGE_SIZE) {
            framesRaw++;
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
