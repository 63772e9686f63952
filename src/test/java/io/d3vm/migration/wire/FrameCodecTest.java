package io.d3vm.migration.wire;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class FrameCodecTest {
    private static final MemoryLayout LAYOUT = MemoryLayout.of(0, 64 * 4096, 1L << 32, 32 * 4096);

    @Test
    void shouldRoundTripEveryControlFrame() throws Exception {
        byte[] state = new byte[1000];
        new Random(1).nextBytes(state);
        FrameBuffer fb = new FrameBuffer(FrameBuffer.MIN_CAPACITY);
        var sink = new java.io.ByteArrayOutputStream();
        fb.handshake("synthetic:mem=1G,zero=70 ✓", Wire.FEATURE_DIGEST);
        fb.layout(LAYOUT);
        fb.endOfRound(7, 12345678901L, 42);
        fb.state(state);
        fb.complete(0xDEADBEEFCAFEL, 7);
        fb.ack(AckStage.COMPLETION, false, -5, "digest mismatch");
        fb.ack(AckStage.SETUP, true, 0, "");
        fb.ack(AckStage.SYNC, true, 3, "");
        fb.sync();
        fb.abort("operator cancelled");
        fb.go();
        fb.writeTo(java.nio.channels.Channels.newChannel(sink));

        FrameDecoder d = new FrameDecoder(TestStreams.channel(sink.toByteArray()), Wire.DEFAULT_MAX_FRAME);
        assertThat(d.next()).isEqualTo(FrameType.HANDSHAKE);
        assertThat(d.readHandshake()).isEqualTo(new Messages.Handshake(Wire.VERSION, Wire.FEATURE_DIGEST, "synthetic:mem=1G,zero=70 ✓"));
        assertThat(d.next()).isEqualTo(FrameType.LAYOUT);
        assertThat(d.readLayout()).isEqualTo(LAYOUT);
        assertThat(d.next()).isEqualTo(FrameType.END_OF_ROUND);
        assertThat(d.readEndOfRound()).isEqualTo(new Messages.EndOfRound(7, 12345678901L, 42));
        assertThat(d.next()).isEqualTo(FrameType.STATE);
        assertThat(d.readState()).isEqualTo(state);
        assertThat(d.next()).isEqualTo(FrameType.COMPLETE);
        assertThat(d.readComplete()).isEqualTo(new Messages.Completion(0xDEADBEEFCAFEL, 7));
        assertThat(d.next()).isEqualTo(FrameType.ACK);
        assertThat(d.readAck()).isEqualTo(new Messages.Ack(AckStage.COMPLETION, false, -5, "digest mismatch"));
        assertThat(d.next()).isEqualTo(FrameType.ACK);
        assertThat(d.readAck()).isEqualTo(new Messages.Ack(AckStage.SETUP, true, 0, ""));
        assertThat(d.next()).isEqualTo(FrameType.ACK);
        assertThat(d.readAck()).isEqualTo(new Messages.Ack(AckStage.SYNC, true, 3, ""));
        assertThat(d.next()).isEqualTo(FrameType.SYNC);
        d.readSync();
        assertThat(d.next()).isEqualTo(FrameType.ABORT);
        assertThat(d.readAbort()).isEqualTo(new Messages.Abort("operator cancelled"));
        assertThat(d.next()).isEqualTo(FrameType.GO);
        d.readGo();
        assertThat(d.bodyLeft()).isZero();
        assertThatThrownBy(d::next).isInstanceOf(ProtocolException.class).hasMessageContaining("closed");
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 8, 4096})
    void shouldRejectAGoFrameWithABody(int length) {
        byte[] h = TestStreams.le(8 + length).putShort((short) FrameType.GO.code()).putShort((short) 0).putInt(length).array();
        FrameDecoder d = new FrameDecoder(TestStreams.channel(h), Wire.DEFAULT_MAX_FRAME);
        assertThatThrownBy(d::next).isInstanceOf(ProtocolException.class).hasMessageContaining("GO frame body of " + length + " bytes");
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5})
    void shouldRoundTripPageBatchesWithRunsAndData(long seed) throws Exception {
        Random rnd = new Random(seed);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(LAYOUT.totalBytes(), 4096);
            for (long o = 0; o < src.byteSize(); o += 8) {
                src.set(ValueLayout.JAVA_LONG, o, rnd.nextLong());
            }
            GuestMemory mem = GuestMemory.wrap(LAYOUT, List.of(src.asSlice(0, 64 * 4096), src.asSlice(64 * 4096, 32 * 4096)));
            int count = 1 + rnd.nextInt(32);
            long first = 64 + rnd.nextInt(32 - count + 1);
            byte[] classes = new byte[count];
            long[] patterns = new long[count];
            for (int i = 0; i < count; i++) {
                classes[i] = (byte) rnd.nextInt(4);
                patterns[i] = classes[i] == Wire.CLASS_UNIFORM ? (rnd.nextBoolean() ? 0xCCCCCCCCCCCCCCCCL : rnd.nextLong()) : 0;
            }
            byte[] stream = new TestStreams().pages(mem, first, classes, patterns).bytes();

            FrameDecoder d = new FrameDecoder(TestStreams.channel(stream), Wire.DEFAULT_MAX_FRAME);
            PageBatch b = new PageBatch();
            assertThat(d.next()).isEqualTo(FrameType.PAGES);
            d.readPages(b, LAYOUT);
            assertThat(b.firstPage).isEqualTo(first);
            assertThat(b.pageCount).isEqualTo(count);
            assertThat(b.range).isEqualTo(1);
            assertThat(b.rangeFirstPage).isEqualTo(64);
            int page = 0;
            MemorySegment got = MemorySegment.ofArray(new byte[4096 * 32]);
            for (int r = 0; r < b.runCount; r++) {
                for (int i = 0; i < b.runPages[r]; i++) {
                    assertThat(b.runClass[r]).isEqualTo(classes[page + i]);
                    assertThat(b.runPattern[r]).isEqualTo(patterns[page + i]);
                }
                if (b.runClass[r] == Wire.CLASS_NORMAL) {
                    long bytes = (long) b.runPages[r] << 12;
                    d.readBody(got, 0, bytes);
                    assertThat(got.asSlice(0, bytes).mismatch(mem.page(first + page).reinterpret(bytes))).isEqualTo(-1);
                }
                page += b.runPages[r];
            }
            assertThat(page).isEqualTo(count);
            assertThat(d.bodyLeft()).isZero();
        }
    }

    @Test
    void shouldRejectPageBatchOutsideOrAcrossMemoryRanges() {
        assertThat(pagesError(LAYOUT.totalPages(), 1)).contains("outside guest memory");
        assertThat(pagesError(63, 2)).contains("crosses the end of memory range 0");
        assertThat(pagesError(-1, 1)).contains("outside guest memory");
        assertThat(pagesError(0, 0)).contains("batch of 0 pages");
        assertThat(pagesError(0, 513)).contains("batch of 513 pages");
    }

    @Test
    void shouldRejectRunsThatDoNotCoverTheBatchOrLieAboutTheData() {
        // runs cover 2 of 3 pages
        assertThat(decodePages(pagesBody(0, 3, new int[][] {{2, Wire.CLASS_ZERO}}, 0))).contains("runs cover 2 of the batch's 3");
        // run overruns the batch
        assertThat(decodePages(pagesBody(0, 3, new int[][] {{4, Wire.CLASS_ZERO}}, 0))).contains("overruns");
        // unknown class
        assertThat(decodePages(pagesBody(0, 1, new int[][] {{1, 9}}, 0))).contains("unknown page class");
        // NORMAL pages without their data
        assertThat(decodePages(pagesBody(0, 2, new int[][] {{2, Wire.CLASS_NORMAL}}, 4096))).contains("data bytes for 2 NORMAL and 0 DUPLICATE pages");
    }

    @Test
    void shouldRejectUnknownTypeFlagsAndOversizedFrames() {
        ByteBuffer h = TestStreams.le(8).putShort((short) 99).putShort((short) 0).putInt(0);
        assertThat(error(h.array())).contains("unknown frame type");
        h = TestStreams.le(8).putShort((short) FrameType.PAGES.code()).putShort((short) 1).putInt(100);
        assertThat(error(h.array())).contains("flags");
        h = TestStreams.le(8).putShort((short) FrameType.STATE.code()).putShort((short) 0).putInt(-1);
        assertThat(error(h.array())).contains("exceeds the maximum frame length");
        h = TestStreams.le(8).putShort((short) FrameType.COMPLETE.code()).putShort((short) 0).putInt(15);
        assertThat(error(h.array())).contains("must be exactly 16");
    }

    @Test
    void shouldRejectForeignMagicAndOtherVersions() {
        byte[] ok = new TestStreams().handshake("synthetic:mem=1M").bytes();
        byte[] magic = ok.clone();
        magic[8] ^= 1;
        assertThat(handshakeError(magic)).contains("bad magic");
        byte[] version = ok.clone();
        version[8 + Wire.HS_VERSION] = (byte) (Wire.VERSION - 1); // a source of the protocol before SYNC
        assertThat(handshakeError(version)).contains("protocol version " + (Wire.VERSION - 1));
        byte[] utf = ok.clone();
        utf[ok.length - 1] = (byte) 0xFF;
        assertThat(handshakeError(utf)).contains("UTF-8");
    }

    private static String pagesError(long first, int count) {
        return decodePages(pagesBody(first, count, new int[][] {{Math.max(count, 1), Wire.CLASS_ZERO}}, 0));
    }

    private static byte[] pagesBody(long first, int count, int[][] runs, int dataBytes) {
        int body = Wire.PAGES_FIXED + runs.length * Wire.RUN_SIZE + dataBytes;
        ByteBuffer b = TestStreams.le(8 + body);
        b.putShort((short) FrameType.PAGES.code()).putShort((short) 0).putInt(body);
        b.putLong(first).putInt(count).putInt(runs.length);
        for (int[] r : runs) {
            b.putInt(r[0]).putInt(r[1]).putLong(0);
        }
        return b.array();
    }

    private static String decodePages(byte[] stream) {
        return messageOf(() -> {
            FrameDecoder d = new FrameDecoder(TestStreams.channel(stream), Wire.DEFAULT_MAX_FRAME);
            d.next();
            d.readPages(new PageBatch(), LAYOUT);
        });
    }

    private static String handshakeError(byte[] stream) {
        return messageOf(() -> {
            FrameDecoder d = new FrameDecoder(TestStreams.channel(stream), Wire.DEFAULT_MAX_FRAME);
            d.next();
            d.readHandshake();
        });
    }

    private static String error(byte[] stream) {
        return messageOf(() -> new FrameDecoder(TestStreams.channel(stream), Wire.DEFAULT_MAX_FRAME).next());
    }

    interface Step {
        void run() throws Exception;
    }

    static String messageOf(Step s) {
        try {
            s.run();
        } catch (ProtocolException e) {
            return e.getMessage();
        } catch (Exception e) {
            throw new AssertionError("expected a ProtocolException, got " + e, e);
        }
        throw new AssertionError("expected a ProtocolException, got none");
    }

    @Test
    void shouldRoundTripThePostcopyBitmapAndRequests() throws Exception {
        long pages = 1000; // not a multiple of 64: the last word is partial
        io.d3vm.memory.DirtyBitmap stale = new io.d3vm.memory.DirtyBitmap(pages);
        for (long p : new long[] {0, 63, 64, 500, 999}) {
            stale.set(p);
        }
        FrameBuffer fb = new FrameBuffer(FrameBuffer.MIN_CAPACITY);
        fb.postcopy(stale);
        fb.request(999);
        fb.ack(AckStage.POSTCOPY, true, 0, "");
        var sink = new java.io.ByteArrayOutputStream();
        fb.writeTo(java.nio.channels.Channels.newChannel(sink));
        FrameDecoder d = new FrameDecoder(TestStreams.channel(sink.toByteArray()), Wire.DEFAULT_MAX_FRAME);
        assertThat(d.next()).isEqualTo(FrameType.POSTCOPY);
        io.d3vm.memory.DirtyBitmap got = d.readPostcopy(pages);
        assertThat(got.count()).isEqualTo(5);
        for (long p : new long[] {0, 63, 64, 500, 999}) {
            assertThat(got.get(p)).as("page %d", p).isTrue();
        }
        assertThat(d.next()).isEqualTo(FrameType.REQUEST);
        assertThat(d.readRequest(pages)).isEqualTo(999);
        assertThat(d.next()).isEqualTo(FrameType.ACK);
        assertThat(d.readAck()).isEqualTo(new Messages.Ack(AckStage.POSTCOPY, true, 0, ""));
    }

    @Test
    void shouldRefuseAPostcopyBitmapOfAnotherSizeOrWithPagesPastTheGuest() throws Exception {
        FrameBuffer fb = new FrameBuffer(FrameBuffer.MIN_CAPACITY);
        fb.postcopy(new io.d3vm.memory.DirtyBitmap(1000));
        var sink = new java.io.ByteArrayOutputStream();
        fb.writeTo(java.nio.channels.Channels.newChannel(sink));
        byte[] frame = sink.toByteArray();
        FrameDecoder other = new FrameDecoder(TestStreams.channel(frame), Wire.DEFAULT_MAX_FRAME);
        other.next();
        assertThatThrownBy(() -> other.readPostcopy(2000)).isInstanceOf(ProtocolException.class).hasMessageContaining("1000 pages");
        // Bit 1000 (past the last page) set in the last word: 1000 = 15 * 64 + 40.
        byte[] tampered = frame.clone();
        int lastWord = Wire.HEADER_SIZE + Wire.POSTCOPY_FIXED + 15 * 8;
        tampered[lastWord + 5] = 1; // bit 40 of the little-endian word
        FrameDecoder d = new FrameDecoder(TestStreams.channel(tampered), Wire.DEFAULT_MAX_FRAME);
        d.next();
        assertThatThrownBy(() -> d.readPostcopy(1000)).isInstanceOf(ProtocolException.class).hasMessageContaining("past the guest");
    }

    @Test
    void shouldRefuseARequestForAPageOutsideTheGuest() throws Exception {
        FrameBuffer fb = new FrameBuffer(FrameBuffer.MIN_CAPACITY);
        fb.request(1000);
        var sink = new java.io.ByteArrayOutputStream();
        fb.writeTo(java.nio.channels.Channels.newChannel(sink));
        FrameDecoder d = new FrameDecoder(TestStreams.channel(sink.toByteArray()), Wire.DEFAULT_MAX_FRAME);
        d.next();
        assertThatThrownBy(() -> d.readRequest(1000)).isInstanceOf(ProtocolException.class).hasMessageContaining("page 1000");
    }
}
