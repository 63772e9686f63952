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
