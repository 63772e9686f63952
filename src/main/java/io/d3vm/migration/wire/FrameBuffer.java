package io.d3vm.migration.wire;

import io.d3vm.memory.IncrementalDigest;
import io.d3vm.memory.MemoryDigest;
import io.d3vm.memory.MemoryLayout;

import java.io.IOException;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;

/**
 * Encodes frames ({@link Wire}) back to back into one reusable direct buffer, which is then written
 * to the connection in a single large write. The sender appends many small batches (a dirty round
 * is mostly one-page batches) to one buffer, so the socket sees megabyte writes, not 4 KiB ones.
 *
 * <p>Page data is copied from guest memory into the buffer right after the pages were classified.
 * No allocation per page or per frame. Not thread-safe: one thread fills a buffer, then hands it
 * to the writer.
 */
public final class FrameBuffer {
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Enough for any control frame except a large STATE; a sender's buffers hold {@link Wire#MAX_PAGES_FRAME} or more. */
    public static final int MIN_CAPACITY = 16 << 10;

    private final ByteBuffer buffer;
    private final MemorySegment seg;
    private int pos;
    /** Frames and NORMAL pages in the buffer, for the sender's counters. */
    private int frames;

    public FrameBuffer(int capacity) {
        if (capacity < MIN_CAPACITY) {
            throw new IllegalArgumentException("frame buffer of " + capacity + " bytes is below the " + MIN_CAPACITY + " any control frame needs");
        }
        buffer = ByteBuffer.allocateDirect(capacity).order(ByteOrder.LITTLE_ENDIAN);
        seg = MemorySegment.ofBuffer(buffer);
    }

    public int capacity() {
        return buffer.capacity();
    }

    /** Bytes encoded so far. */
    public int size() {
        return pos;
    }

    public int remaining() {
        return buffer.capacity() - pos;
    }

    public int frames() {
        return frames;
    }

    public boolean isEmpty() {
        return pos == 0;
    }

    /** True when another full PAGES batch is guaranteed to fit. */
    public boolean fitsBatch() {
        return remaining() >= Wire.MAX_PAGES_FRAME;
    }

    public void clear() {
        pos = 0;
        frames = 0;
    }

    /** Writes everything encoded so far to {@code out} (blocking until all is written) and clears. */
    public void writeTo(WritableByteChannel out) throws IOException {
        buffer.limit(pos).position(0);
        while (buffer.hasRemaining()) {
            out.write(buffer);
        }
        buffer.clear();
        clear();
    }

    /** The encoded bytes as a buffer positioned for writing (for paced writers); {@link #clear} afterwards. */
    public ByteBuffer view() {
        return buffer.duplicate().order(ByteOrder.LITTLE_ENDIAN).limit(pos).position(0);
    }

    // ---- control frames ----

    public void handshake(String description, int features) {
        byte[] d = text(description, "guest description");
        int body = Wire.HANDSHAKE_FIXED + d.length;
        int b = header(FrameType.HANDSHAKE, body);
        seg.set(LONG, b + Wire.HS_MAGIC, Wire.MAGIC);
        seg.set(SHORT, b + Wire.HS_VERSION, (short) Wire.VERSION);
        seg.set(SHORT, b + Wire.HS_RESERVED, (short) 0);
        seg.set(INT, b + Wire.HS_FEATURES, features);
        seg.set(INT, b + Wire.HS_DESC_LEN, d.length);
        seg.set(INT, b + Wire.HS_RESERVED2, 0);
        MemorySegment.copy(d, 0, seg, ValueLayout.JAVA_BYTE, b + Wire.HANDSHAKE_FIXED, d.length);
        end(body);
    }

    public void layout(MemoryLayout layout) {
        int n = layout.ranges().size();
        if (n > Wire.MAX_RANGES) {
            throw new IllegalArgumentException("layout has " + n + " ranges; the protocol carries at most " + Wire.MAX_RANGES);
        }
        int body = Wire.LAYOUT_FIXED + n * Wire.RANGE_SIZE;
        int b = header(FrameType.LAYOUT, body);
        seg.set(INT, b + Wire.LAYOUT_COUNT, n);
        seg.set(INT, b + Wire.LAYOUT_RESERVED, 0);
        int r = b + Wire.LAYOUT_FIXED;
        for (MemoryLayout.Range range : layout.ranges()) {
            seg.set(LONG, r + Wire.RANGE_START, range.guestPhysAddr());
            seg.set(LONG, r + Wire.RANGE_BYTES, range.size());
            r += Wire.RANGE_SIZE;
        }
        end(body);
    }

    public void endOfRound(int round, long pages, long normalPages) {
        int b = header(FrameType.END_OF_ROUND, Wire.END_OF_ROUND_SIZE);
        seg.set(INT, b + Wire.EOR_ROUND, round);
        seg.set(INT, b + Wire.EOR_RESERVED, 0);
        seg.set(LONG, b + Wire.EOR_PAGES, pages);
        seg.set(LONG, b + Wire.EOR_NORMAL, normalPages);
        end(Wire.END_OF_ROUND_SIZE);
    }

    /** The whole state blob as one frame; the buffer must have room (see {@link #remaining}). */
    public void state(byte[] state) {
        int b = header(FrameType.STATE, state.length);
        MemorySegment.copy(state, 0, seg, ValueLayout.JAVA_BYTE, b, state.length);
        end(state.length);
    }

    public void complete(long digest, int rounds) {
        int b = header(FrameType.COMPLETE, Wire.COMPLETE_SIZE);
        seg.set(LONG, b + Wire.CPL_DIGEST, digest);
        seg.set(INT, b + Wire.CPL_ROUNDS, rounds);
        seg.set(INT, b + Wire.CPL_RESERVED, 0);
        end(Wire.COMPLETE_SIZE);
    }

    public void ack(AckStage stage, boolean ok, long digest, String message) {
        byte[] m = text(message == null ? "" : message, "ack message");
        int body = Wire.ACK_FIXED + m.length;
        int b = header(FrameType.ACK, body);
        seg.set(INT, b + Wire.ACK_STAGE, stage.code());
        seg.set(INT, b + Wire.ACK_STATUS, ok ? Wire.STATUS_OK : Wire.STATUS_REFUSED);
        seg.set(LONG, b + Wire.ACK_DIGEST, digest);
        seg.set(INT, b + Wire.ACK_MSG_LEN, m.length);
        seg.set(INT, b + Wire.ACK_RESERVED, 0);
        MemorySegment.copy(m, 0, seg, ValueLayout.JAVA_BYTE, b + Wire.ACK_FIXED, m.length);
        end(body);
    }

    public void abort(String reason) {
        byte[] m = text(reason, "abort reason");
        int body = Wire.ABORT_FIXED + m.length;
        int b = header(FrameType.ABORT, body);
        seg.set(INT, b + Wire.ABORT_LEN, m.length);
        seg.set(INT, b + Wire.ABORT_RESERVED, 0);
        MemorySegment.copy(m, 0, seg, ValueLayout.JAVA_BYTE, b + Wire.ABORT_FIXED, m.length);
        end(body);
    }

    /** The source's go-ahead after a positive completion ACK (see {@link Wire}). */
    /** SYNC: the destination answers ACK(sync) once it has rebuilt everything sent before. */
    public void sync() {
        header(FrameType.SYNC, Wire.SYNC_SIZE);
        end(Wire.SYNC_SIZE);
    }

    /** POSTCOPY: the pages set in {@code stale} are not current at the destination. */
    public void postcopy(io.d3vm.memory.DirtyBitmap stale) {
        int body = Wire.POSTCOPY_FIXED + stale.wordCount() * 8;
        int b = header(FrameType.POSTCOPY, body);
        seg.set(LONG, b + Wire.POSTCOPY_PAGES, stale.pages());
        for (int i = 0; i < stale.wordCount(); i++) {
            seg.set(LONG, b + Wire.POSTCOPY_FIXED + 8L * i, stale.word(i));
        }
        end(body);
    }

    /** REQUEST: the destination's guest waits on page {@code page}. */
    public void request(long page) {
        int b = header(FrameType.REQUEST, Wire.REQUEST_SIZE);
        seg.set(LONG, b + Wire.REQUEST_PAGE, page);
        end(Wire.REQUEST_SIZE);
    }

    public void go() {
        header(FrameType.GO, Wire.GO_SIZE);
        end(Wire.GO_SIZE);
    }

    // ---- page batches ----

    /**
     * Encodes one PAGES frame for pages {@code [firstPage, firstPage + count)} whose classes (and
     * UNIFORM patterns) were decided by a classifier; consecutive pages of one class (and pattern)
     * become one run, and NORMAL pages are copied from {@code host} (the memory of the range that
     * holds them, with {@code hostOffset} the byte offset of {@code firstPage} in it).
     *
     * @return the number of NORMAL pages encoded
     */
    public int pages(long firstPage, int count, byte[] classes, long[] patterns, MemorySegment host, long hostOffset) {
        return pages(firstPage, count, classes, patterns, host, hostOffset, null);
    }

    /**
     * As {@link #pages(long, int, byte[], long[], MemorySegment, long)}, and folds every page into
     * {@code digest} (when not null) as it is encoded: a NORMAL page is hashed from its copy in this
     * buffer, while that is in cache, so the digest covers exactly the bytes that cross the wire
     * even when the guest writes the page meanwhile (the dirty log then sends it again).
     */
    public int pages(long firstPage, int count, byte[] classes, long[] patterns, MemorySegment host, long hostOffset,
                     IncrementalDigest digest) {
        return pages(firstPage, count, classes, patterns, null, host, hostOffset, digest);
    }

    /**
     * As above, with DUPLICATE pages: for those {@code patterns[i]} is the origin page and
     * {@code versions[i]} its version, encoded as references; their content (at {@code host}, as for
     * NORMAL pages) is only hashed into {@code digest}.
     */
    public int pages(long firstPage, int count, byte[] classes, long[] patterns, int[] versions, MemorySegment host, long hostOffset,
                     IncrementalDigest digest) {
        if (count < 1 || count > Wire.MAX_BATCH_PAGES) {
            throw new IllegalArgumentException("batch of " + count + " pages (1.." + Wire.MAX_BATCH_PAGES + ")");
        }
        if (!fitsBatch()) {
            throw new IllegalStateException("frame buffer full");
        }
        int b = header(FrameType.PAGES, 0); // the body length is patched in by end()
        seg.set(LONG, b + Wire.PAGES_FIRST, firstPage);
        seg.set(INT, b + Wire.PAGES_COUNT, count);
        int runAt = b + Wire.PAGES_FIXED;
        int runs = 0;
        int normal = 0;
        int i = 0;
        while (i < count) {
            int cls = classes[i];
            if (cls < 0 || cls >= Wire.CLASS_COUNT) {
                throw new IllegalArgumentException("page class " + cls);
            }
            long pattern = cls == Wire.CLASS_UNIFORM ? patterns[i] : 0L;
            int j = i + 1;
            while (j < count && classes[j] == cls && (cls != Wire.CLASS_UNIFORM || patterns[j] == pattern)) {
                j++;
            }
            seg.set(INT, runAt + Wire.RUN_PAGES, j - i);
            // little-endian: the class byte, then the three reserved zero bytes
            seg.set(INT, runAt + Wire.RUN_CLASS, cls);
            seg.set(LONG, runAt + Wire.RUN_PATTERN, pattern);
            runAt += Wire.RUN_SIZE;
            if (digest != null) {
                if (cls == Wire.CLASS_UNIFORM) {
                    digest.uniform(firstPage + i, j - i, pattern);
                } else if (cls != Wire.CLASS_NORMAL && cls != Wire.CLASS_DUPLICATE) {
                    digest.zero(firstPage + i, j - i);
                }
            }
            runs++;
            if (cls == Wire.CLASS_NORMAL) {
                normal += j - i;
            }
            i = j;
        }
        seg.set(INT, b + Wire.PAGES_RUNS, runs);
        // Data after all runs, in run order: copy contiguous NORMAL stretches in one go.
        int data = runAt;
        i = 0;
        while (i < count) {
            if (classes[i] == Wire.CLASS_DUPLICATE) {
                if (versions == null) {
                    throw new IllegalArgumentException("DUPLICATE page without a reference version");
                }
                seg.set(LONG, data + Wire.REF_PAGE, patterns[i]);
                seg.set(INT, data + Wire.REF_VERSION, versions[i]);
                seg.set(INT, data + Wire.REF_RESERVED, 0);
                data += Wire.REF_SIZE;
                if (digest != null) {
                    digest.page(firstPage + i, MemoryDigest.hashPage(host, hostOffset + ((long) i << Wire.PAGE_SHIFT)));
                }
                i++;
                continue;
            }
            if (classes[i] != Wire.CLASS_NORMAL) {
                i++;
                continue;
            }
            int j = i + 1;
            while (j < count && classes[j] == Wire.CLASS_NORMAL) {
                j++;
            }
            long bytes = (long) (j - i) << Wire.PAGE_SHIFT;
            if (digest == null) {
                MemorySegment.copy(host, hostOffset + ((long) i << Wire.PAGE_SHIFT), seg, data, bytes);
                data += (int) bytes;
            } else {
                for (int k = i; k < j; k++) {
                    MemorySegment.copy(host, hostOffset + ((long) k << Wire.PAGE_SHIFT), seg, data, Wire.PAGE_SIZE);
                    digest.page(firstPage + k, MemoryDigest.hashPage(seg, data));
                    data += Wire.PAGE_SIZE;
                }
            }
            i = j;
        }
        end(data - b);
        return normal;
    }

    private int header(FrameType type, long body) {
        if (Wire.HEADER_SIZE + body > remaining()) {
            throw new IllegalStateException(type + " frame of " + body + " bytes does not fit the frame buffer (" + remaining() + " left)");
        }
        seg.set(SHORT, pos + Wire.HDR_TYPE, (short) type.code());
        seg.set(SHORT, pos + Wire.HDR_FLAGS, (short) 0);
        seg.set(INT, pos + Wire.HDR_LENGTH, (int) body);
        return pos + Wire.HEADER_SIZE;
    }

    private void end(int body) {
        seg.set(INT, pos + Wire.HDR_LENGTH, body);
        pos += Wire.HEADER_SIZE + body;
        frames++;
    }

    private static byte[] text(String s, String what) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length > Wire.MAX_TEXT_BYTES) {
            throw new IllegalArgumentException(what + " is " + b.length + " bytes; the protocol carries at most " + Wire.MAX_TEXT_BYTES);
        }
        return b;
    }
}
