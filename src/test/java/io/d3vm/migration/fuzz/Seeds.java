package io.d3vm.migration.fuzz;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryDigest;
import io.d3vm.memory.MemoryLayout;
import io.d3vm.migration.wire.PageCodec;
import io.d3vm.migration.wire.TestStreams;
import io.d3vm.migration.wire.Wire;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Valid migration streams the fuzzers start from (a fuzzer that only ever sees garbage never gets
 * past the frame header), and the offsets of their frame headers so mutations can aim at fields.
 */
final class Seeds {
    private Seeds() {}

    static final byte N = Wire.CLASS_NORMAL;
    static final byte Z = Wire.CLASS_ZERO;
    static final byte U = Wire.CLASS_UNIFORM;
    static final byte P = Wire.CLASS_UNPOPULATED;
    /** Two ranges with a hole, as the receiver target's guests get them. */
    static final MemoryLayout LAYOUT = MemoryLayout.of(0, 8 * 4096L, 1L << 20, 8 * 4096L);

    /** A complete, valid two-round migration of a small guest (SYNC before the final round): the receiver accepts it as it is. */
    static byte[] completeMigration(long seed) {
        try (GuardedMemory src = new GuardedMemory(LAYOUT)) {
            GuestMemory m = src.memory;
            Random r = new Random(seed);
            // Round 1: range 0 pages 0..7 as N N Z U P N U Z; range 1 pages 8..15 all NORMAL.
            byte[] c1 = {N, N, Z, U, P, N, U, Z};
            long pattern = 0xCCCCCCCCCCCCCCCCL;
            long[] p1 = {0, 0, 0, pattern, 0, 0, pattern, 0};
            for (int i = 0; i < 8; i++) {
                fill(m.page(i), c1[i], p1[i], r);
                fill(m.page(8 + i), N, 0, r);
            }
            TestStreams s = new TestStreams().handshake(FuzzTargets.KIND + ":fuzz").layout(LAYOUT)
                    .pages(m, 0, c1, p1).pages(m, 8, classes(N, 8), new long[8]).endOfRound(1, 16, 11);
            s.sync(); // the source's barrier before it pauses the guest
            // Round 2: page 1 became zero (received earlier: must be cleared), page 9 changed.
            fill(m.page(1), Z, 0, r);
            fill(m.page(9), N, 0, r);
            s.pages(m, 1, new byte[] {Z}, new long[1]).pages(m, 9, new byte[] {N}, new long[1]).endOfRound(2, 2, 1);
            s.state(new byte[] {1, 2, 3, 4}).complete(MemoryDigest.compute(m, 1), 2).go();
            return s.bytes();
        }
    }

    /** A stream the source abandons after round 1. */
    static byte[] abortedMigration(long seed) {
        byte[] full = completeMigration(seed);
        List<Integer> frames = frameOffsets(full);
        byte[] head = java.util.Arrays.copyOf(full, frames.get(5)); // HANDSHAKE LAYOUT PAGES PAGES END_OF_ROUND
        return new TestStreams().raw(head).abort("operator cancelled").bytes();
    }

    /**
     * A migration whose source, after round 1, names stale pages (POSTCOPY) and carries a REQUEST —
     * without having offered post-copy in its HANDSHAKE, so the receiver must refuse it as a
     * protocol error; the decoder target reads both frames.
     */
    static byte[] unofferedPostcopy(long seed) {
        byte[] full = completeMigration(seed);
        List<Integer> frames = frameOffsets(full);
        byte[] head = java.util.Arrays.copyOf(full, frames.get(5)); // HANDSHAKE LAYOUT PAGES PAGES END_OF_ROUND
        io.d3vm.memory.DirtyBitmap stale = new io.d3vm.memory.DirtyBitmap(LAYOUT.totalBytes() / 4096);
        stale.set(1);
        stale.set(9);
        io.d3vm.migration.wire.FrameBuffer fb = new io.d3vm.migration.wire.FrameBuffer(io.d3vm.migration.wire.FrameBuffer.MIN_CAPACITY);
        fb.postcopy(stale);
        fb.request(9);
        byte[] tail = new byte[fb.size()];
        fb.view().get(tail);
        return new TestStreams().raw(head).raw(tail).bytes();
    }

    /**
     * A complete, valid migration that uses duplicate references and both codecs: zstd- and
     * LZ4-compressed PAGES of text-like pages, DUPLICATE runs in both rounds (round 2 references a
     * page sent in round 1 by its version). The receiver accepts it as it is.
     */
    static byte[] savingsMigration(long seed) {
        try (GuardedMemory src = new GuardedMemory(LAYOUT);
             PageCodec zstd = PageCodec.ofCode(Wire.CODEC_ZSTD); PageCodec lz4 = PageCodec.ofCode(Wire.CODEC_LZ4)) {
            GuestMemory m = src.memory;
            Random r = new Random(seed);
            for (int p : new int[] {0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15}) {
                text(m.page(p), r);
            }
            m.page(4).copyFrom(m.page(0));
            m.page(5).copyFrom(m.page(1));
            int features = Wire.FEATURE_DIGEST | Wire.FEATURE_DUPLICATES | Wire.FEATURE_LZ4 | Wire.FEATURE_ZSTD;
            TestStreams s = new TestStreams().handshake(FuzzTargets.KIND + ":fuzz", features).layout(LAYOUT)
                    .compressedPages(m, 0, 4, zstd, Wire.CODEC_ZSTD, 0)
                    .references(m, 4, new long[] {0, 1}, new int[] {1, 1})
                    .pages(m, 6, new byte[] {Z, Z}, new long[2])
                    .compressedPages(m, 8, 8, lz4, Wire.CODEC_LZ4, 0).endOfRound(1, 16, 12);
            s.sync();
            m.page(5).copyFrom(m.page(2)); // round 2: page 5 now holds page 2's content, sent as a reference to it
            s.references(m, 5, new long[] {2}, new int[] {1}).endOfRound(2, 1, 0);
            s.state(new byte[] {5}).complete(MemoryDigest.compute(m, 1), 2).go();
            return s.bytes();
        }
    }

    static List<byte[]> all() {
        return List.of(completeMigration(1), completeMigration(2), abortedMigration(3), unofferedPostcopy(4), savingsMigration(5));
    }

    /** Letters of a small alphabet: compressible, and distinct page by page. */
    private static void text(MemorySegment page, Random r) {
        for (long o = 0; o < 4096; o++) {
            page.set(ValueLayout.JAVA_BYTE, o, (byte) ('a' + r.nextInt(8)));
        }
    }

    private static void fill(MemorySegment page, byte cls, long pattern, Random r) {
        switch (cls) {
            case N -> {
                for (long o = 0; o < 4096; o += 8) {
                    page.set(ValueLayout.JAVA_LONG_UNALIGNED, o, r.nextLong());
                }
            }
            case U -> {
                for (long o = 0; o < 4096; o += 8) {
                    page.set(ValueLayout.JAVA_LONG_UNALIGNED, o, pattern);
                }
            }
            default -> page.fill((byte) 0);
        }
    }

    static byte[] classes(byte c, int n) {
        byte[] b = new byte[n];
        java.util.Arrays.fill(b, c);
        return b;
    }

    /** Offsets of the frame headers in a well-formed stream (stops at the first implausible length). */
    static List<Integer> frameOffsets(byte[] stream) {
        List<Integer> out = new ArrayList<>();
        ByteBuffer b = ByteBuffer.wrap(stream).order(ByteOrder.LITTLE_ENDIAN);
        int p = 0;
        while (p + Wire.HEADER_SIZE <= stream.length) {
            out.add(p);
            long len = Integer.toUnsignedLong(b.getInt(p + Wire.HDR_LENGTH));
            if (len > stream.length - p - Wire.HEADER_SIZE) {
                break;
            }
            p += Wire.HEADER_SIZE + (int) len;
        }
        return out;
    }
}
