package io.d3vm.migration.wire;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryLayout;
import io.d3vm.migration.transport.Connection;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.Arrays;

/** Builds migration byte streams frame by frame, and connections that replay them, for tests. */
public final class TestStreams {
    private final FrameBuffer fb = new FrameBuffer(Wire.MAX_PAGES_FRAME + 64);
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final WritableByteChannel sink = Channels.newChannel(bytes);

    public TestStreams handshake(String desc) {
        fb.handshake(desc, Wire.FEATURE_DIGEST);
        return flush();
    }

    public TestStreams handshake(String desc, int features) {
        fb.handshake(desc, features);
        return flush();
    }

    /**
     * A batch of DUPLICATE pages {@code [first, first + origins.length)}: references to
     * {@code origins} in {@code versions} (content in {@code src} only matters to a digest).
     */
    public TestStreams references(GuestMemory src, long first, long[] origins, int[] versions) {
        byte[] classes = new byte[origins.length];
        Arrays.fill(classes, (byte) Wire.CLASS_DUPLICATE);
        var region = src.regionOfPage(first);
        fb.pages(first, classes.length, classes, origins.clone(), versions.clone(), region.host(), (first - region.firstPageIndex()) << 12, null);
        return flush();
    }

    /**
     * A batch of NORMAL pages of {@code src}, its data compressed with {@code codec} (the layout of
     * {@link Wire}'s compressed PAGES); {@code rawLength} and the codec code are written as given,
     * so a test can make them lie.
     */
    public TestStreams compressedPages(GuestMemory src, long first, int count, PageCodec codec, int codeOnWire, int rawLengthDelta) {
        byte[] classes = new byte[count];
        fb.pages(first, count, classes, new long[count], src.regionOfPage(first).host(), (first - src.regionOfPage(first).firstPageIndex()) << 12);
        ByteBuffer raw = fb.view();
        int head = Wire.PAGES_FIXED + Wire.RUN_SIZE;
        int data = count * Wire.PAGE_SIZE;
        ByteBuffer out = ByteBuffer.allocateDirect(raw.limit() + 64).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        int n = codec.compress(raw, Wire.HEADER_SIZE + head, data, out, Wire.HEADER_SIZE + head + Wire.COMPRESSED_FIXED, data);
        if (n < 0) {
            throw new AssertionError("test data did not compress");
        }
        out.put(0, raw, 0, Wire.HEADER_SIZE + head);
        out.putShort(Wire.HDR_FLAGS, (short) Wire.FLAG_COMPRESSED);
        out.putInt(Wire.HDR_LENGTH, head + Wire.COMPRESSED_FIXED + n);
        out.putInt(Wire.HEADER_SIZE + head + Wire.CMP_CODEC, codeOnWire);
        out.putInt(Wire.HEADER_SIZE + head + Wire.CMP_RAW, data + rawLengthDelta);
        byte[] b = new byte[Wire.HEADER_SIZE + head + Wire.COMPRESSED_FIXED + n];
        out.get(0, b);
        fb.clear();
        bytes.writeBytes(b);
        return this;
    }

    public TestStreams layout(MemoryLayout l) {
        fb.layout(l);
        return flush();
    }

    /** A batch of the given pages of {@code src} with the given classes/patterns. */
    public TestStreams pages(GuestMemory src, long first, byte[] classes, long[] patterns) {
        var region = src.regionOfPage(first);
        fb.pages(first, classes.length, classes, patterns, region.host(), (first - region.firstPageIndex()) << 12);
        return flush();
    }

    public TestStreams endOfRound(int round, long pages, long normal) {
        fb.endOfRound(round, pages, normal);
        return flush();
    }

    public TestStreams state(byte[] s) {
        fb.state(s);
        return flush();
    }

    public TestStreams complete(long digest, int rounds) {
        fb.complete(digest, rounds);
        return flush();
    }

    public TestStreams sync() {
        fb.sync();
        return flush();
    }

    public TestStreams go() {
        fb.go();
        return flush();
    }

    public TestStreams abort(String why) {
        fb.abort(why);
        return flush();
    }

    public TestStreams raw(byte[] b) {
        bytes.writeBytes(b);
        return this;
    }

    public byte[] bytes() {
        return bytes.toByteArray();
    }

    private TestStreams flush() {
        try {
            fb.writeTo(sink);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return this;
    }

    public static ReadableByteChannel channel(byte[] b) {
        return Channels.newChannel(new ByteArrayInputStream(b));
    }

    /** A connection that reads {@code in} and records what is written back. */
    public static final class Replay implements Connection {
        private final ReadableByteChannel in;
        public final ByteArrayOutputStream written = new ByteArrayOutputStream();
        private final WritableByteChannel out = Channels.newChannel(written);
        public volatile boolean closed;

        public Replay(byte[] input) {
            this.in = channel(input);
        }

        @Override
        public ReadableByteChannel input() {
            return in;
        }

        @Override
        public WritableByteChannel output() {
            return out;
        }

        @Override
        public String peer() {
            return "test";
        }

        @Override
        public void close() {
            closed = true;
        }

        /** The frames the receiver sent back, decoded. */
        public java.util.List<Object> replies() throws IOException {
            FrameDecoder d = new FrameDecoder(channel(written.toByteArray()), Wire.DEFAULT_MAX_FRAME);
            java.util.List<Object> r = new java.util.ArrayList<>();
            while (true) {
                FrameType t;
                try {
                    t = d.next();
                } catch (ProtocolException e) {
                    return r;
                }
                r.add(t == FrameType.ACK ? d.readAck() : d.readAbort());
            }
        }
    }

    public static byte[] truncate(byte[] b, int n) {
        return Arrays.copyOf(b, n);
    }

    static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    }
}
