package io.d3vm.migration.send;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryLayout;
import io.d3vm.migration.wire.FrameBuffer;
import io.d3vm.migration.wire.FrameDecoder;
import io.d3vm.migration.wire.FrameType;
import io.d3vm.migration.wire.PageBatch;
import io.d3vm.migration.wire.PageCodec;
import io.d3vm.migration.wire.TestStreams;
import io.d3vm.migration.wire.Wire;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** The writer's compressor: what {@code auto} compresses on a slow and on a fast link, and that the result decodes to the pages. */
class PageCompressorTest {
    static final int PAGES = 4096; // 16 MiB: text-like pages in the even batches, random ones in the odd
    static final MemoryLayout LAYOUT = MemoryLayout.flat(PAGES * 4096L);

    static GuestMemory memory() {
        GuestMemory m = GuestMemory.allocate(LAYOUT);
        Random r = new Random(7);
        MemorySegment host = m.regions().get(0).host();
        for (long p = 0; p < PAGES; p++) {
            boolean text = (p / 512) % 2 == 0;
            for (long o = 0; o < 4096; o++) {
                host.set(ValueLayout.JAVA_BYTE, p * 4096 + o, (byte) (text ? 'a' + r.nextInt(6) : r.nextInt()));
            }
        }
        return m;
    }

    static final int BATCH = 128;
    static final long FIRST = 256;
    static final long END = 768; // pages 256..511 text, 512..767 random

    /** A buffer of NORMAL batches of {@link #BATCH} pages over [{@link #FIRST}, {@link #END}): half text, half random. */
    static FrameBuffer buffer(GuestMemory m) {
        FrameBuffer fb = new FrameBuffer(FrameSink.BUFFER_SIZE);
        byte[] normal = new byte[BATCH];
        for (long p = FIRST; p < END; p += BATCH) {
            fb.pages(p, BATCH, normal, new long[BATCH], m.regions().get(0).host(), p * 4096);
        }
        return fb;
    }

    /** A link that took {@code nanosPer4MiB} for each of enough 4 MiB writes to be measured. */
    static LinkMeter link(long nanosPer4MiB) {
        LinkMeter l = new LinkMeter();
        for (int i = 0; i < LinkMeter.WINDOW; i++) {
            l.wrote(4 << 20, nanosPer4MiB, 0);
        }
        return l;
    }

    @Test
    void shouldCompressTheCompressibleBatchesOnASlowLinkAndDecodeToThePages() throws Exception {
        try (GuestMemory m = memory(); GuestMemory back = GuestMemory.allocate(LAYOUT)) {
            PageCompressor c = new PageCompressor(PageCodec.ofName("zstd"), true, link(4_000_000_000L), FrameSink.BUFFER_SIZE); // ~1 MB/s: pays whatever the machine's speed
            ByteBuffer last = null;
            int rawSize = 0;
            for (int i = 0; i < 2; i++) { // the first learns the codec's speed, the second decides by it
                FrameBuffer fb = buffer(m);
                rawSize = fb.size();
                last = copy(c.process(fb.view()));
            }
            assertThat(last.remaining()).as("the text batches go compressed").isLessThan(rawSize * 4 / 5);
            assertThat(c.framesPacked).isPositive();
            assertThat(c.framesRaw).as("random batches do not shrink: sent raw").isPositive();
            assertDecodesToThePages(last, back, m);
            c.close();
        }
    }

    @Test
    void shouldLeaveBuffersRawOnAFastLinkButKeepProbing() {
        try (GuestMemory m = memory()) {
            PageCompressor c = new PageCompressor(PageCodec.ofName("zstd"), true, link(1_000_000L), FrameSink.BUFFER_SIZE); // ~4 GB/s: more than twice any codec's speed
            int untouched = 0;
            for (int i = 0; i < 1 + 2 * PageCompressor.PROBE_EVERY; i++) {
                ByteBuffer in = buffer(m).view();
                if (c.process(in) == in) {
                    untouched++;
                }
            }
            assertThat(untouched).as("no compression can pay at 4 GB/s: buffers go as they are").isGreaterThanOrEqualTo(2 * PageCompressor.PROBE_EVERY - 2);
            assertThat(c.buffersSkipped).isEqualTo(untouched);
            assertThat(c.rawBytes).as("the first buffer (the codec's speed) and one probe in " + PageCompressor.PROBE_EVERY + " still measure")
                    .isPositive().isLessThanOrEqualTo((END - FIRST) * 4096 + 3L * BATCH * 4096); // one frame per probe
            c.close();
        }
    }

    @Test
    void shouldCompressEverythingUntilTheLinkIsMeasuredThenProbeRawWhenCompressedWritesHardlyWait() {
        try (GuestMemory m = memory()) {
            LinkMeter link = new LinkMeter();
            PageCompressor c = new PageCompressor(PageCodec.ofName("zstd"), true, link, FrameSink.BUFFER_SIZE);
            int rawSize = buffer(m).size();
            long written = 0;
            for (int i = 0; written < LinkMeter.SHARE_BYTES; i++) {
                ByteBuffer out = c.process(buffer(m).view());
                assertThat(out.remaining()).as("link unknown: compressed (buffer " + i + ")").isLessThan(rawSize * 4 / 5);
                assertThat(c.compressNanosOfLast()).as("measured as a compressed write").isPositive();
                link.wrote(out.remaining(), 1, c.compressNanosOfLast()); // found room in the socket at once
                assertThat(link.rate()).as("compressed writes say nothing of the link's rate").isNaN();
                written += out.remaining();
            }
            long packed = c.framesPacked;
            ByteBuffer probe = c.process(buffer(m).view());
            assertThat(probe.remaining()).as("the writer, not the link, was the limit: the probe goes mostly raw").isGreaterThan(rawSize * 4 / 5);
            assertThat(c.framesPacked - packed).as("one sample frame").isEqualTo(1);
            assertThat(c.compressNanosOfLast()).as("measured as a raw write").isZero();
            link.wrote(probe.remaining(), 1_000_000, c.compressNanosOfLast()); // ~3 GB/s
            assertThat(link.rate()).isGreaterThan(1e9);
            assertThat(link.waitShare()).as("the window was forgotten when the probe was chosen").isNaN();
            c.close();
        }
    }

    @Test
    void shouldKeepCompressingWithoutARawProbeWhereTheKernelMeasuredASlowLink() {
        try (GuestMemory m = memory()) {
            LinkMeterTest.Kernel k = new LinkMeterTest.Kernel();
            LinkMeter link = k.meter();
            link.observe();
            k.pass(100, 100_000, 1 << 20); // 1 MB/s while data waited for the link
            link.observe();
            PageCompressor c = new PageCompressor(PageCodec.ofName("zstd"), true, link, FrameSink.BUFFER_SIZE);
            int rawSize = buffer(m).size();
            long written = 0;
            for (int i = 0; written < 3 * LinkMeter.SHARE_BYTES; i++) { // three judgements of who waits
                ByteBuffer out = c.process(buffer(m).view());
                assertThat(out.remaining()).as("compressed (buffer " + i + ")").isLessThan(rawSize * 4 / 5);
                link.wrote(out.remaining(), 1, c.compressNanosOfLast()); // found room at once: the writer is the limit
                written += out.remaining();
            }
            assertThat(c.buffersSkipped).isZero();
            c.close();
        }
    }

    @Test
    void shouldStepZstdUpALevelPerWindowWhileTheWriterMostlyWaitsAndStillDecode() throws Exception {
        try (GuestMemory m = memory(); GuestMemory back = GuestMemory.allocate(LAYOUT)) {
            LinkMeter link = new LinkMeter();
            PageCompressor c = new PageCompressor(PageCodec.ofName("zstd"), true, link, FrameSink.BUFFER_SIZE);
            ByteBuffer last = null;
            for (int i = 0; i < 64 && c.highestLevel < 6; i++) {
                last = copy(c.process(buffer(m).view()));
                link.wrote(last.remaining(), 500_000_000L, c.compressNanosOfLast()); // waited half a second: a slow link
            }
            assertThat(c.highestLevel).as("1, then 3, then 6").isEqualTo(6);
            last = copy(c.process(buffer(m).view()));
            assertDecodesToThePages(last, back, m);
            c.close();
        }
    }

    @Test
    void shouldStepUpOnlyWhereTheNextLevelStillLeavesTheLinkTheLimit() {
        assertThat(PageCompressor.stepUpShare(1.0)).as("a level that costs nothing more: whenever link-bound")
                .isEqualTo(PageCompressor.LINK_BOUND_SHARE);
        double[] s = PageCodec.ofName("zstd").levelSpeeds();
        assertThat(PageCompressor.stepUpShare(s[0] / s[1])).as("zstd 1 to 3").isGreaterThan(0.6).isLessThan(0.7);
        assertThat(PageCompressor.stepUpShare(s[1] / s[2])).as("zstd 3 to 6").isGreaterThan(0.8).isLessThan(0.9);
    }

    @Test
    void shouldJudgeWhoWaitsOverMegabytesNotSingleWrites() {
        LinkMeter link = new LinkMeter();
        // As seen at 100 Mbit/s: writes that find room, and every ~1.5 MB one that waits 250 ms.
        for (int i = 0; i < 40; i++) { // 12 MB: the window is full from the 14th write on
            link.wrote(300 << 10, i % 5 == 4 ? 250_000_000L : 100_000, 5_000_000);
            if (i >= 14) {
                assertThat(link.waitShare()).as("write " + i).isGreaterThan(PageCompressor.stepUpShare(693.0 / 180)); // zstd 3 to 6
            }
        }
        // Uncapped: compressing takes the time, the socket never makes the writer wait.
        for (int i = 0; i < 8; i++) {
            link.wrote(1 << 20, 100_000, 8_000_000);
        }
        assertThat(link.waitShare()).isLessThan(LinkMeter.WRITER_BOUND_SHARE);
        link.forget();
        assertThat(link.waitShare()).as("forgotten").isNaN();
        link.wrote(100 << 10, 1_000_000_000L, 0); // a small raw write says nothing of the rate
        assertThat(link.rate()).isNaN();
        link.wrote(1 << 20, 1_000_000, 0);
        assertThat(link.rate()).as("a large raw write past the socket's buffers does").isEqualTo((1 << 20) * 1e3);
    }

    private static ByteBuffer copy(ByteBuffer b) {
        ByteBuffer c = ByteBuffer.allocate(b.remaining());
        c.put(b.duplicate());
        return c.flip();
    }

    /** {@code stream} decodes into {@code back} to exactly the pages of {@code m} it carries. */
    private static void assertDecodesToThePages(ByteBuffer stream, GuestMemory back, GuestMemory m) throws Exception {
        decodeInto(stream, back);
        for (long p = FIRST; p < END; p++) {
            assertThat(back.page(p).mismatch(m.page(p))).as("page " + p).isEqualTo(-1L);
        }
    }

    private static void decodeInto(ByteBuffer stream, GuestMemory into) throws Exception {
        byte[] bytes = new byte[stream.remaining()];
        stream.duplicate().get(bytes);
        FrameDecoder in = new FrameDecoder(TestStreams.channel(bytes), Wire.DEFAULT_MAX_FRAME);
        in.accept(Wire.FEATURE_ZSTD);
        PageBatch batch = new PageBatch();
        int frames = 0;
        while (true) {
            FrameType t;
            try {
                t = in.next();
            } catch (io.d3vm.migration.wire.ProtocolException end) {
                break; // no further frame
            }
            assertThat(t).isEqualTo(FrameType.PAGES);
            in.readPages(batch, LAYOUT);
            in.readBody(into.regions().get(0).host(), batch.firstPage * 4096, (long) batch.normalPages * 4096);
            frames++;
        }
        assertThat(frames).isPositive();
    }
}
