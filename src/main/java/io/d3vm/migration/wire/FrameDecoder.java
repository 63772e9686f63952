package io.d3vm.migration.wire;

import io.d3vm.memory.MemoryLayout;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.channels.ReadableByteChannel;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads frames ({@link Wire}) from a connection and checks every field before it is used: frame
 * type, flags, body length against the type's bounds and the maximum frame length, text lengths and
 * encoding, ranges against the memory layout. Anything malformed — truncated, garbage, out of range
 * — is a {@link ProtocolException} naming the frame and the field; nothing else escapes for bad input
 * (IO failures of the connection itself stay plain {@link IOException}s).
 *
 * <p>Call {@link #next} for each frame, then exactly the reader for that type. Page data is read
 * with {@link #readBody} straight into guest memory: small pieces through the read buffer, large
 * ones directly from the socket into the guest page, after {@link #readPages} checked the range.
 *
 * <p>Used by the receiver (all frame types) and by the sender (ACK and ABORT). Single-threaded.
 *
 * <p>Why one long class: one read method per frame type, each validating every field of its frame before anything is used; kept together so the validation rules of the whole protocol read in one place against {@link Wire}'s diagrams.
 */
public final class FrameDecoder {
    private static final int BUFFER_SIZE = 256 << 10;
    private static final java.lang.foreign.ValueLayout.OfLong LONG_LE = java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final java.lang.foreign.ValueLayout.OfInt INT_LE = java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final ReadableByteChannel in;
    private final long maxFrame;
    private final ByteBuffer buf = ByteBuffer.allocateDirect(BUFFER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
    private final MemorySegment bufSeg = MemorySegment.ofBuffer(buf);
    private FrameType type;
    private long bodyLength;
    private long bodyLeft;
    private volatile long bytesRead;
    /** The optional PAGES contents the handshake allowed ({@link #accept}): duplicates, codecs. */
    private int accepted;
    /** The current frame carries compressed page data ({@link Wire#FLAG_COMPRESSED}). */
    private boolean compressed;
    /** The current PAGES frame's data were inflated: {@link #readBody} serves them from {@link #inflated}. */
    private boolean inflating;
    private int inflatedAt;
    private ByteBuffer packed;
    private ByteBuffer inflated;
    private MemorySegment inflatedSeg;
    private MemorySegment packedSeg;
    private PageCodec lz4;
    private PageCodec zstd;
    private final MemorySegment refs = MemorySegment.ofArray(new byte[Wire.MAX_BATCH_PAGES * Wire.REF_SIZE]);
    private long packedBytes;
    private long inflatedBytes;

    /** @param maxFrame largest accepted frame body; at least {@link Wire#MIN_MAX_FRAME} */
    public FrameDecoder(ReadableByteChannel in, long maxFrame) {
        if (maxFrame < Wire.MIN_MAX_FRAME || maxFrame > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException("max frame length " + maxFrame + " must be between " + Wire.MIN_MAX_FRAME + " and 4 GiB - 1");
        }
        this.in = in;
        this.maxFrame = maxFrame;
        buf.limit(0);
    }

    /** Bytes taken from the connection so far; a stall watchdog polls it from another thread. */
    public long bytesRead() {
        return bytesRead;
    }

    /**
     * Allows what a handshake's {@code features} offered: DUPLICATE runs
     * ({@link Wire#FEATURE_DUPLICATES}) and compressed PAGES ({@link Wire#FEATURE_LZ4},
     * {@link Wire#FEATURE_ZSTD}). Without it both are protocol errors.
     */
    public void accept(int features) {
        accepted = features & (Wire.FEATURE_DUPLICATES | Wire.FEATURE_LZ4 | Wire.FEATURE_ZSTD);
    }

    /** Compressed page data read so far, as it crossed the wire. */
    public long packedBytes() {
        return packedBytes;
    }

    /** What that compressed data inflated to. */
    public long inflatedBytes() {
        return inflatedBytes;
    }

    /** The current frame's body length. */
    public long bodyLength() {
        return bodyLength;
    }

    /** Unread bytes of the current frame's body. */
    public long bodyLeft() {
        return bodyLeft;
    }

    /**
     * Reads the next frame header and returns its type. The previous frame must have been read
     * completely.
     */
    public FrameType next() throws IOException {
        if (bodyLeft != 0) {
            throw new IllegalStateException(bodyLeft + " bytes of the " + type + " frame left unread");
        }
        type = null;
        if (!fill(Wire.HEADER_SIZE, true)) {
            throw new ProtocolException("the peer closed the connection (no further frame)");
        }
        int p = buf.position();
        int code = Short.toUnsignedInt(buf.getShort(p + Wire.HDR_TYPE));
        int flags = Short.toUnsignedInt(buf.getShort(p + Wire.HDR_FLAGS));
        long length = Integer.toUnsignedLong(buf.getInt(p + Wire.HDR_LENGTH));
        buf.position(p + Wire.HEADER_SIZE);
        FrameType t = FrameType.ofCode(code);
        if (t == null) {
            throw new ProtocolException("unknown frame type 0x" + Integer.toHexString(code)
                    + (looksLikeTls(code & 0xFF, code >>> 8) ? TLS_HINT : " (garbage in the stream, or a peer speaking another protocol)"));
        }
        boolean packedPages = flags == Wire.FLAG_COMPRESSED && t == FrameType.PAGES
                && (accepted & (Wire.FEATURE_LZ4 | Wire.FEATURE_ZSTD)) != 0;
        if (flags != 0 && !packedPages) {
            throw new ProtocolException(t + " frame has unknown header flags 0x" + Integer.toHexString(flags)
                    + (flags == Wire.FLAG_COMPRESSED && t == FrameType.PAGES ? " (compressed, but the handshake offered no codec)" : ""));
        }
        compressed = packedPages;
        inflating = false;
        if (length > maxFrame) {
            throw new ProtocolException(t + " frame of " + length + " bytes exceeds the maximum frame length of " + maxFrame);
        }
        if (length < t.minBody() || length > t.maxBody()) {
            throw new ProtocolException(t + " frame body of " + length + " bytes; must be " + bounds(t));
        }
        type = t;
        bodyLength = length;
        bodyLeft = length;
        return t;
    }

    public Messages.Handshake readHandshake() throws IOException {
        expect(FrameType.HANDSHAKE);
        fixed(Wire.HANDSHAKE_FIXED);
        int p = buf.position();
        long magic = buf.getLong(p + Wire.HS_MAGIC);
        int version = Short.toUnsignedInt(buf.getShort(p + Wire.HS_VERSION));
        int reserved = Short.toUnsignedInt(buf.getShort(p + Wire.HS_RESERVED));
        int features = buf.getInt(p + Wire.HS_FEATURES);
        long len = Integer.toUnsignedLong(buf.getInt(p + Wire.HS_DESC_LEN));
        int reserved2 = buf.getInt(p + Wire.HS_RESERVED2);
        consume(Wire.HANDSHAKE_FIXED);
        if (magic != Wire.MAGIC) {
            throw new ProtocolException("HANDSHAKE has bad magic 0x" + Long.toHexString(magic) + ": not a d3vm migration stream");
        }
        if (version != Wire.VERSION) {
            throw new ProtocolException("peer speaks protocol version " + version + "; this d3vm speaks version " + Wire.VERSION
                    + " (run the same d3vm release on both ends)");
        }
        if (reserved != 0 || reserved2 != 0) {
            throw new ProtocolException("HANDSHAKE reserved fields are not zero");
        }
        if ((features & ~Wire.KNOWN_FEATURES) != 0) {
            throw new ProtocolException("HANDSHAKE asks for unknown features 0x" + Integer.toHexString(features & ~Wire.KNOWN_FEATURES));
        }
        String desc = text(len, "guest description");
        return new Messages.Handshake(version, features, desc);
    }

    public MemoryLayout readLayout() throws IOException {
        expect(FrameType.LAYOUT);
        fixed(Wire.LAYOUT_FIXED);
        long count = Integer.toUnsignedLong(buf.getInt(buf.position() + Wire.LAYOUT_COUNT));
        int reserved = buf.getInt(buf.position() + Wire.LAYOUT_RESERVED);
        consume(Wire.LAYOUT_FIXED);
        if (reserved != 0) {
            throw new ProtocolException("LAYOUT reserved field is not zero");
        }
        if (count < 1 || count > Wire.MAX_RANGES || count * Wire.RANGE_SIZE != bodyLeft) {
            throw new ProtocolException("LAYOUT announces " + count + " ranges in " + bodyLeft + " bytes (1.." + Wire.MAX_RANGES
                    + " ranges of " + Wire.RANGE_SIZE + " bytes)");
        }
        fixed((int) bodyLeft);
        List<MemoryLayout.Range> ranges = new ArrayList<>((int) count);
        int p = buf.position();
        try {
            for (int i = 0; i < count; i++) {
                ranges.add(new MemoryLayout.Range(buf.getLong(p + i * Wire.RANGE_SIZE + Wire.RANGE_START),
                        buf.getLong(p + i * Wire.RANGE_SIZE + Wire.RANGE_BYTES)));
            }
            consume((int) bodyLeft);
            return new MemoryLayout(ranges);
        } catch (IllegalArgumentException e) {
            throw new ProtocolException("LAYOUT is invalid: " + e.getMessage(), e);
        }
    }

    /**
     * Reads a PAGES header and its runs into {@code out}, checked against {@code layout}: the batch
     * lies inside one range, runs cover it exactly, classes are known, the body length matches the
     * NORMAL pages. The caller then reads {@code out.normalPages} pages of data with {@link #readBody}.
     */
    public void readPages(PageBatch out, MemoryLayout layout) throws IOException {
        expect(FrameType.PAGES);
        fixed(Wire.PAGES_FIXED);
        int p = buf.position();
        long first = buf.getLong(p + Wire.PAGES_FIRST);
        long count = Integer.toUnsignedLong(buf.getInt(p + Wire.PAGES_COUNT));
        long runs = Integer.toUnsignedLong(buf.getInt(p + Wire.PAGES_RUNS));
        consume(Wire.PAGES_FIXED);
        if (count < 1 || count > Wire.MAX_BATCH_PAGES) {
            throw new ProtocolException("PAGES batch of " + count + " pages (1.." + Wire.MAX_BATCH_PAGES + ")");
        }
        if (runs < 1 || runs > count) {
            throw new ProtocolException("PAGES batch of " + count + " pages has " + runs + " runs (1.." + count + ")");
        }
        // Find the range holding the first page; the whole batch must stay inside it.
        long rangeFirst = 0;
        int range = -1;
        if (first >= 0) {
            for (int i = 0; i < layout.ranges().size(); i++) {
                long pages = layout.ranges().get(i).pages();
                if (first - rangeFirst < pages) {
                    if (count > pages - (first - rangeFirst)) {
                        throw new ProtocolException("PAGES batch [" + first + ", +" + count + ") crosses the end of memory range " + i);
                    }
                    range = i;
                    break;
                }
                rangeFirst += pages;
            }
        }
        if (range < 0) {
            throw new ProtocolException("PAGES batch starts at page " + first + ", outside guest memory of " + layout.totalPages() + " pages");
        }
        if (bodyLeft < runs * Wire.RUN_SIZE) {
            throw new ProtocolException("PAGES frame too short for its " + runs + " runs");
        }
        fixed((int) (runs * Wire.RUN_SIZE));
        p = buf.position();
        long covered = 0;
        int normal = 0;
        int duplicate = 0;
        for (int r = 0; r < runs; r++) {
            int at = p + r * Wire.RUN_SIZE;
            long n = Integer.toUnsignedLong(buf.getInt(at + Wire.RUN_PAGES));
            int cls = buf.getInt(at + Wire.RUN_CLASS); // class byte + three reserved zero bytes
            long pattern = buf.getLong(at + Wire.RUN_PATTERN);
            if (n < 1 || n > count - covered) {
                throw new ProtocolException("PAGES run " + r + " of " + n + " pages overruns its batch of " + count);
            }
            if (cls < 0 || cls >= Wire.CLASS_COUNT) {
                throw new ProtocolException("PAGES run " + r + " has unknown page class 0x" + Integer.toHexString(cls));
            }
            if (cls != Wire.CLASS_UNIFORM && pattern != 0) {
                throw new ProtocolException("PAGES run " + r + " carries a pattern but is not UNIFORM");
            }
            if (cls == Wire.CLASS_DUPLICATE && (accepted & Wire.FEATURE_DUPLICATES) == 0) {
                throw new ProtocolException("PAGES run " + r + " is DUPLICATE, but the handshake did not offer duplicates");
            }
            out.runPages[r] = (int) n;
            out.runClass[r] = (byte) cls;
            out.runPattern[r] = pattern;
            covered += n;
            if (cls == Wire.CLASS_NORMAL) {
                normal += (int) n;
            } else if (cls == Wire.CLASS_DUPLICATE) {
                duplicate += (int) n;
            }
        }
        consume((int) (runs * Wire.RUN_SIZE));
        if (covered != count) {
            throw new ProtocolException("PAGES runs cover " + covered + " of the batch's " + count + " pages");
        }
        long data = Wire.pageDataBytes(normal, duplicate);
        if (compressed) {
            inflate(data);
        } else if (bodyLeft != data) {
            throw new ProtocolException("PAGES frame has " + bodyLeft + " data bytes for " + normal + " NORMAL and " + duplicate
                    + " DUPLICATE pages (" + data + " expected)");
        }
        out.duplicatePages = duplicate;
        out.firstPage = first;
        out.pageCount = (int) count;
        out.runCount = (int) runs;
        out.range = range;
        out.rangeFirstPage = rangeFirst;
        out.normalPages = normal;
    }

    /**
     * Reads {@code length} body bytes into {@code dst} at {@code offset}; the caller has checked the
     * destination range (it comes from a validated {@link PageBatch}). Large reads go from the
     * socket straight into {@code dst}.
     */
    public void readBody(MemorySegment dst, long offset, long length) throws IOException {
        if (length < 0 || length > bodyLeft) {
            throw new ProtocolException(type + " frame: asked for " + length + " bytes but only " + bodyLeft + " are left");
        }
        if (inflating) {
            MemorySegment.copy(inflatedSeg, inflatedAt, dst, offset, length);
            inflatedAt += (int) length;
            bodyLeft -= length;
            return;
        }
        bodyLeft -= length;
        int take = (int) Math.min(length, buf.remaining());
        if (take > 0) {
            MemorySegment.copy(bufSeg, buf.position(), dst, offset, take);
            buf.position(buf.position() + take);
            offset += take;
            length -= take;
        }
        if (length == 0) {
            return;
        }
        if (length >= BUFFER_SIZE / 2) {
            // The read buffer is empty here: read straight into guest memory. One view per large
            // stretch (>= 32 pages), never per page.
            ByteBuffer direct = dst.asSlice(offset, length).asByteBuffer();
            while (direct.hasRemaining()) {
                int n = in.read(direct);
                if (n < 0) {
                    throw truncated(direct.remaining());
                }
                bytesRead += n;
            }
            return;
        }
        if (!fill((int) length, false)) {
            throw truncated(length);
        }
        MemorySegment.copy(bufSeg, buf.position(), dst, offset, length);
        buf.position(buf.position() + (int) length);
    }

    /**
     * Reads the references of a DUPLICATE run of {@code count} pages (the batch's data, in run
     * order): origin page into {@code origins}, origin version into {@code versions}. Each origin
     * lies inside guest memory of {@code totalPages}; reserved fields are zero. Whether the
     * destination holds that origin in that version is the receiver's check.
     */
    public void readReferences(int count, long totalPages, long[] origins, int[] versions) throws IOException {
        if (count < 1 || count > Wire.MAX_BATCH_PAGES) {
            throw new IllegalArgumentException("run of " + count + " references");
        }
        readBody(refs, 0, (long) count * Wire.REF_SIZE);
        for (int i = 0; i < count; i++) {
            long at = (long) i * Wire.REF_SIZE;
            long origin = refs.get(LONG_LE, at + Wire.REF_PAGE);
            int version = refs.get(INT_LE, at + Wire.REF_VERSION);
            if (refs.get(INT_LE, at + Wire.REF_RESERVED) != 0) {
                throw new ProtocolException("DUPLICATE reference " + i + " has a reserved field that is not zero");
            }
            if (origin < 0 || origin >= totalPages) {
                throw new ProtocolException("DUPLICATE reference to page " + origin + ", outside guest memory of " + totalPages + " pages");
            }
            origins[i] = origin;
            versions[i] = version;
        }
    }

    /**
     * A compressed PAGES frame's data: codec and raw length checked against the runs (which say
     * exactly how many bytes the data are), inflated whole into {@link #inflated}; the frame's
     * body then reads as if it had arrived raw.
     */
    private void inflate(long raw) throws IOException {
        fixed(Wire.COMPRESSED_FIXED);
        int p = buf.position();
        int codec = buf.getInt(p + Wire.CMP_CODEC);
        long rawLength = Integer.toUnsignedLong(buf.getInt(p + Wire.CMP_RAW));
        consume(Wire.COMPRESSED_FIXED);
        PageCodec c = codec(codec);
        if (rawLength != raw) {
            throw new ProtocolException("compressed PAGES frame claims " + rawLength + " raw bytes; its runs describe " + raw);
        }
        long packedLength = bodyLeft;
        if (packedLength < 1 || packedLength >= raw) {
            throw new ProtocolException("compressed PAGES frame holds " + packedLength + " bytes for " + raw
                    + " raw ones (compressed data must be smaller; data that does not shrink is sent raw)");
        }
        if (packed == null) {
            int room = Wire.MAX_BATCH_PAGES * Wire.PAGE_SIZE;
            packed = ByteBuffer.allocateDirect(room);
            inflated = ByteBuffer.allocateDirect(room);
            inflatedSeg = MemorySegment.ofBuffer(inflated);
            packedSeg = MemorySegment.ofBuffer(packed);
        }
        readBody(packedSeg, 0, packedLength);
        int n = c.decompress(packed, 0, (int) packedLength, inflated, 0, (int) raw);
        if (n != raw) {
            throw new ProtocolException("compressed PAGES data inflate to " + n + " bytes, not the " + raw + " its runs describe");
        }
        packedBytes += packedLength;
        inflatedBytes += raw;
        inflating = true;
        inflatedAt = 0;
        bodyLeft = raw;
    }

    private PageCodec codec(int code) throws ProtocolException {
        if (code == Wire.CODEC_LZ4 && (accepted & Wire.FEATURE_LZ4) != 0) {
            return lz4 != null ? lz4 : (lz4 = PageCodec.ofCode(code));
        }
        if (code == Wire.CODEC_ZSTD && (accepted & Wire.FEATURE_ZSTD) != 0) {
            return zstd != null ? zstd : (zstd = PageCodec.ofCode(code));
        }
        throw new ProtocolException("PAGES compressed with codec " + code + ", which the handshake did not offer");
    }

    public Messages.EndOfRound readEndOfRound() throws IOException {
        expect(FrameType.END_OF_ROUND);
        fixed(Wire.END_OF_ROUND_SIZE);
        int p = buf.position();
        long round = Integer.toUnsignedLong(buf.getInt(p + Wire.EOR_ROUND));
        int reserved = buf.getInt(p + Wire.EOR_RESERVED);
        long pages = buf.getLong(p + Wire.EOR_PAGES);
        long normal = buf.getLong(p + Wire.EOR_NORMAL);
        consume(Wire.END_OF_ROUND_SIZE);
        if (reserved != 0) {
            throw new ProtocolException("END_OF_ROUND reserved field is not zero");
        }
        if (round < 1 || round > Integer.MAX_VALUE || pages < 0 || normal < 0 || normal > pages) {
            throw new ProtocolException("END_OF_ROUND has impossible counters: round " + round + ", pages " + pages + ", normal " + normal);
        }
        return new Messages.EndOfRound((int) round, pages, normal);
    }

    /** The STATE body, whole (its length was bounded by the maximum frame length). */
    public byte[] readState() throws IOException {
        expect(FrameType.STATE);
        // A receiver may raise its frame limit to 4 GiB - 1; a Java array stops short of 2 GiB.
        if (bodyLeft > Integer.MAX_VALUE - 16) {
            throw new ProtocolException("STATE frame of " + bodyLeft + " bytes is larger than a receiver can hold (at most "
                    + (Integer.MAX_VALUE - 16) + ")");
        }
        byte[] state = new byte[(int) bodyLeft];
        MemorySegment s = MemorySegment.ofArray(state);
        readBody(s, 0, state.length);
        return state;
    }

    public Messages.Completion readComplete() throws IOException {
        expect(FrameType.COMPLETE);
        fixed(Wire.COMPLETE_SIZE);
        int p = buf.position();
        long digest = buf.getLong(p + Wire.CPL_DIGEST);
        long rounds = Integer.toUnsignedLong(buf.getInt(p + Wire.CPL_ROUNDS));
        int reserved = buf.getInt(p + Wire.CPL_RESERVED);
        consume(Wire.COMPLETE_SIZE);
        if (reserved != 0) {
            throw new ProtocolException("COMPLETE reserved field is not zero");
        }
        if (rounds < 1 || rounds > Integer.MAX_VALUE) {
            throw new ProtocolException("COMPLETE claims " + rounds + " rounds");
        }
        return new Messages.Completion(digest, (int) rounds);
    }

    public Messages.Ack readAck() throws IOException {
        expect(FrameType.ACK);
        fixed(Wire.ACK_FIXED);
        int p = buf.position();
        int stageCode = buf.getInt(p + Wire.ACK_STAGE);
        int status = buf.getInt(p + Wire.ACK_STATUS);
        long digest = buf.getLong(p + Wire.ACK_DIGEST);
        long len = Integer.toUnsignedLong(buf.getInt(p + Wire.ACK_MSG_LEN));
        int reserved = buf.getInt(p + Wire.ACK_RESERVED);
        consume(Wire.ACK_FIXED);
        AckStage stage = AckStage.fromCode(stageCode);
        if (stage == null) {
            throw new ProtocolException("ACK for unknown stage " + stageCode);
        }
        if (status != Wire.STATUS_OK && status != Wire.STATUS_REFUSED) {
            throw new ProtocolException("ACK with unknown status " + status);
        }
        if (reserved != 0) {
            throw new ProtocolException("ACK reserved field is not zero");
        }
        return new Messages.Ack(stage, status == Wire.STATUS_OK, digest, text(len, "ACK message"));
    }

    public Messages.Abort readAbort() throws IOException {
        expect(FrameType.ABORT);
        fixed(Wire.ABORT_FIXED);
        long len = Integer.toUnsignedLong(buf.getInt(buf.position() + Wire.ABORT_LEN));
        int reserved = buf.getInt(buf.position() + Wire.ABORT_RESERVED);
        consume(Wire.ABORT_FIXED);
        if (reserved != 0) {
            throw new ProtocolException("ABORT reserved field is not zero");
        }
        return new Messages.Abort(text(len, "ABORT reason"));
    }

    /**
     * The POSTCOPY bitmap, checked against the layout's {@code pageCount}: the frame holds exactly
     * that many bits (rounded up to words) and none past the last page is set.
     */
    public io.d3vm.memory.DirtyBitmap readPostcopy(long pageCount) throws IOException {
        expect(FrameType.POSTCOPY);
        fixed(Wire.POSTCOPY_FIXED);
        long pages = buf.getLong(buf.position() + Wire.POSTCOPY_PAGES);
        consume(Wire.POSTCOPY_FIXED);
        if (pages != pageCount) {
            throw new ProtocolException("POSTCOPY bitmap of " + pages + " pages for a guest of " + pageCount);
        }
        long words = (pageCount + 63) >>> 6;
        if (bodyLeft != words * 8) {
            throw new ProtocolException("POSTCOPY bitmap of " + bodyLeft + " bytes, " + words * 8 + " expected for " + pageCount + " pages");
        }
        io.d3vm.memory.DirtyBitmap stale = new io.d3vm.memory.DirtyBitmap(pageCount);
        long[] chunk = new long[BUFFER_SIZE / 16]; // whole words of 64 pages, half the read buffer
        for (long w = 0; w < words; ) {
            int n = (int) Math.min(chunk.length, words - w);
            fixed(n * 8);
            buf.asLongBuffer().get(chunk, 0, n);
            consume(n * 8);
            if (w + n == words && (pageCount & 63) != 0 && (chunk[n - 1] >>> (pageCount & 63)) != 0) {
                throw new ProtocolException("POSTCOPY bitmap marks pages past the guest's " + pageCount);
            }
            stale.orWords(w * 64, chunk, Math.min((long) n * 64, pageCount - w * 64));
            w += n;
        }
        return stale;
    }

    /** The page a REQUEST asks for, checked against the guest's {@code pageCount}. */
    public long readRequest(long pageCount) throws IOException {
        expect(FrameType.REQUEST);
        fixed(Wire.REQUEST_SIZE);
        long page = buf.getLong(buf.position() + Wire.REQUEST_PAGE);
        consume(Wire.REQUEST_SIZE);
        if (page < 0 || page >= pageCount) {
            throw new ProtocolException("REQUEST for page " + page + " of a guest of " + pageCount + " pages");
        }
        return page;
    }

    /** GO carries nothing; its length (exactly {@link Wire#GO_SIZE}) was checked by {@link #next}. */
    public void readGo() {
        expect(FrameType.GO);
    }

    /** SYNC carries nothing; its length (exactly {@link Wire#SYNC_SIZE}) was checked by {@link #next}. */
    public void readSync() {
        expect(FrameType.SYNC);
    }

    // ---- helpers ----

    private void expect(FrameType t) {
        if (type != t || bodyLeft != bodyLength) {
            throw new IllegalStateException("reader for " + t + " called on " + type + " frame");
        }
    }

    /** Makes the next {@code n} body bytes available in the buffer. */
    private void fixed(int n) throws IOException {
        if (n > bodyLeft) {
            throw new ProtocolException(type + " frame too short: needs " + n + " more bytes, has " + bodyLeft);
        }
        if (!fill(n, false)) {
            throw truncated(n);
        }
    }

    private void consume(int n) {
        buf.position(buf.position() + n);
        bodyLeft -= n;
    }

    private String text(long len, String what) throws IOException {
        if (len != bodyLeft) {
            throw new ProtocolException(type + ": " + what + " length " + len + " does not match the " + bodyLeft + " bytes left in the frame");
        }
        if (len > Wire.MAX_TEXT_BYTES) {
            throw new ProtocolException(type + ": " + what + " of " + len + " bytes exceeds " + Wire.MAX_TEXT_BYTES);
        }
        fixed((int) len);
        ByteBuffer slice = buf.slice(buf.position(), (int) len);
        consume((int) len);
        String s;
        try {
            CharBuffer cb = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(slice);
            s = cb.toString();
        } catch (CharacterCodingException e) {
            throw new ProtocolException(type + ": " + what + " is not valid UTF-8");
        }
        for (int i = 0; i < s.length(); i++) {
            if (Character.isISOControl(s.charAt(i))) {
                throw new ProtocolException(type + ": " + what + " contains control characters");
            }
        }
        return s;
    }

    /**
     * Ensures {@code n} bytes are buffered. Returns false on end of stream: when {@code atBoundary}
     * and nothing at all was buffered (a clean close between frames), otherwise throws.
     */
    private boolean fill(int n, boolean atBoundary) throws IOException {
        if (buf.remaining() >= n) {
            return true;
        }
        buf.compact();
        try {
            while (buf.position() < n) {
                int r = in.read(buf);
                if (r < 0) {
                    if (atBoundary && buf.position() == 0) {
                        return false;
                    }
                    throw truncated(n - buf.position());
                }
                bytesRead += r;
            }
        } finally {
            buf.flip();
        }
        return true;
    }

    private ProtocolException truncated(long missing) {
        // Called while buf is in fill mode: bytes [0, position) are what arrived of the header.
        boolean tls = type == null && buf.position() >= 2 && looksLikeTls(buf.get(0) & 0xFF, buf.get(1) & 0xFF);
        return new ProtocolException("stream truncated: the connection ended " + missing + " bytes short inside "
                + (type == null ? "a frame header" : "a " + type + " frame") + (tls ? TLS_HINT : ""));
    }

    private static final String TLS_HINT = " (the peer speaks TLS: give both ends --tls-dir, or neither)";

    /** A TLS record starts with content type 0x15 (alert) or 0x16 (handshake) and major version 3. */
    private static boolean looksLikeTls(int first, int second) {
        return (first == 0x15 || first == 0x16) && second == 0x03;
    }

    private static String bounds(FrameType t) {
        return t.maxBody() == Long.MAX_VALUE ? "at least " + t.minBody() : t.minBody() == t.maxBody() ? "exactly " + t.minBody()
                : "between " + t.minBody() + " and " + t.maxBody();
    }
}
