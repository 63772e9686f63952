package io.d3vm.migration.detect;

import io.d3vm.memory.GuestMemory;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The page-content kernels every detector shares: read one word, and check that the rest of a page
 * repeats a given word. Patterns are read little-endian, which is how {@link Classification}
 * stores them and how the destination writes them back.
 *
 * <p>Three implementations of the check are kept side by side ({@link #uniformScalar},
 * {@link #uniformMismatch} and {@link #uniformVector}) because the benchmarks compare them;
 * {@link #uniformFrom} is the one the detectors use, the Vector API, chosen by measurement
 * (docs/BENCHMARKS.md, "The full check's kernel").
 */
final class PageScan {
    static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final int WORDS_PER_PAGE = GuestMemory.PAGE_SIZE / Long.BYTES;
    static final int CACHE_LINE = 64;

    // 256-bit lanes: two loads cover one cache line, which is the unit the early exit works in.
    // (AVX-512 would cover it in one load but down-clocks some cores; measured no faster here.)
    private static final VectorSpecies<Long> SPECIES = LongVector.SPECIES_256;
    private static final int VBYTES = SPECIES.vectorByteSize();

    private static final int VECTOR = 0;
    private static final int SCALAR = 1;
    private static final int MISMATCH = 2;
    /**
     * The kernel {@link #uniformFrom} uses: the Vector API unless the benchmark harness asks for
     * another one (system property {@code d3vm.detector.kernel} = scalar | mismatch), so that whole
     * detectors can be timed with each. A static final: C2 folds the switch away.
     */
    private static final int KERNEL = switch (System.getProperty("d3vm.detector.kernel", "vector")) {
        case "scalar" -> SCALAR;
        case "mismatch" -> MISMATCH;
        default -> VECTOR;
    };

    private PageScan() {}

    static long word(MemorySegment seg, long byteOffset) {
        return seg.get(WORD, byteOffset);
    }

    /**
     * True when every word of the page at {@code pageOffset}, from byte {@code from} (a multiple of
     * 64) to its end, equals {@code word0}. Stops at the first cache line that differs.
     */
    static boolean uniformFrom(MemorySegment seg, long pageOffset, int from, long word0) {
        return switch (KERNEL) {
            case SCALAR -> uniformScalar(seg, pageOffset, from, word0);
            case MISMATCH -> uniformMismatch(seg, pageOffset, from, word0);
            default -> uniformVector(seg, pageOffset, from, word0);
        };
    }

    /** True when words 1..7 (the rest of the first cache line) of the page at {@code o} equal {@code word0}. */
    static boolean uniformLine0(MemorySegment seg, long o, long word0) {
        return ((seg.get(WORD, o + 8) ^ word0)
                | (seg.get(WORD, o + 16) ^ word0)
                | (seg.get(WORD, o + 24) ^ word0)
                | (seg.get(WORD, o + 32) ^ word0)
                | (seg.get(WORD, o + 40) ^ word0)
                | (seg.get(WORD, o + 48) ^ word0)
                | (seg.get(WORD, o + 56) ^ word0)) == 0;
    }

    /** Long-at-a-time: one cache line (8 words) folded with XOR/OR, then one branch. */
    static boolean uniformScalar(MemorySegment seg, long pageOffset, int from, long word0) {
        long end = pageOffset + GuestMemory.PAGE_SIZE;
        for (long o = pageOffset + from; o < end; o += CACHE_LINE) {
            long diff = (seg.get(WORD, o) ^ word0)
                    | (seg.get(WORD, o + 8) ^ word0)
                    | (seg.get(WORD, o + 16) ^ word0)
                    | (seg.get(WORD, o + 24) ^ word0)
                    | (seg.get(WORD, o + 32) ^ word0)
                    | (seg.get(WORD, o + 40) ^ word0)
                    | (seg.get(WORD, o + 48) ^ word0)
                    | (seg.get(WORD, o + 56) ^ word0);
            if (diff != 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * The JDK's own vectorised compare, no incubator module: the page from byte {@code from}
     * against itself one word further on. The first word equals {@code word0} and every word equals
     * the one before it, so all do. Stops at the first word that differs.
     */
    static boolean uniformMismatch(MemorySegment seg, long pageOffset, int from, long word0) {
        long start = pageOffset + from;
        long end = pageOffset + GuestMemory.PAGE_SIZE;
        return seg.get(WORD, start) == word0
                && MemorySegment.mismatch(seg, start, end - Long.BYTES, seg, start + Long.BYTES, end) < 0;
    }

    /** Vector API: two 256-bit loads per cache line, XOR against the broadcast word, one test. */
    static boolean uniformVector(MemorySegment seg, long pageOffset, int from, long word0) {
        LongVector w = LongVector.broadcast(SPECIES, word0);
        long end = pageOffset + GuestMemory.PAGE_SIZE;
        for (long o = pageOffset + from; o < end; o += CACHE_LINE) {
            LongVector a = LongVector.fromMemorySegment(SPECIES, seg, o, ByteOrder.LITTLE_ENDIAN);
            LongVector b = LongVector.fromMemorySegment(SPECIES, seg, o + VBYTES, ByteOrder.LITTLE_ENDIAN);
            if (a.lanewise(VectorOperators.XOR, w).or(b.lanewise(VectorOperators.XOR, w))
                    .compare(VectorOperators.NE, 0L).anyTrue()) {
                return false;
            }
        }
        return true;
    }
}
