package io.d3vm.migration.detect;

import java.util.Arrays;

/**
 * Where the d3 detector probes a page after its first cache line (docs/DESIGN.md, decision 4):
 * {@code k} word offsets, one in each of {@code k} equal strata of bytes [64, 4096), never on a
 * 64-byte grid (arrays of 64-byte structures, such as the kernel's {@code struct page} table,
 * would otherwise put every probe on the same field), and different in every round so that a
 * page which escaped in one round is probed elsewhere in the next.
 */
final class SamplePlan {
    /** Most samples a plan takes: one per non-grid word of the page would be a full check. */
    static final int MAX_SAMPLES = 64;

    private static final int FIRST_WORD = PageScan.CACHE_LINE / Long.BYTES;          // 8
    private static final int SPAN = PageScan.WORDS_PER_PAGE - FIRST_WORD;             // 504 words

    private SamplePlan() {}

    /** Byte offsets within a page, ascending, for sample count {@code k} in round {@code round}. */
    static int[] offsets(int k, int round) {
        if (k < 0 || k > MAX_SAMPLES) {
            throw new IllegalArgumentException("samples " + k + " must be 0.." + MAX_SAMPLES);
        }
        int[] out = new int[k];
        for (int s = 0; s < k; s++) {
            int start = FIRST_WORD + (int) ((long) s * SPAN / k);
            int end = FIRST_WORD + (int) ((long) (s + 1) * SPAN / k);
            int width = end - start;                       // >= 7 because k <= 64
            long h = mix(((long) round << 32) ^ s);
            int word = start + (int) Long.remainderUnsigned(h, width);
            if ((word & 7) == 0) {                          // on the 64-byte grid: step off it
                word = word + 1 < end ? word + 1 : word - 1;
            }
            out[s] = word * Long.BYTES;
        }
        Arrays.sort(out);
        return out;
    }

    /** SplitMix64 finaliser: a cheap, well-spread hash of (round, stratum). */
    private static long mix(long z) {
        z += 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
