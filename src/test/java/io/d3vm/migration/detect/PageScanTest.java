package io.d3vm.migration.detect;

import io.d3vm.memory.GuestMemory;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/** The three kernels of the full check give the same answer for every page, from every start. */
class PageScanTest {

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 42})
    void shouldAgreeOnEveryWordThatDiffersAndOnEveryStart(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        try (Arena arena = Arena.ofConfined()) {
            // One page in the middle of three, so that reading past either end would show.
            MemorySegment seg = arena.allocate(3L * GuestMemory.PAGE_SIZE, 64);
            long page = GuestMemory.PAGE_SIZE;
            long word0 = random.nextBoolean() ? 0 : random.nextLong();
            int checked = 0;
            for (int differing = -1; differing < PageScan.WORDS_PER_PAGE; differing++) {
                seg.fill((byte) 0x5a);                                   // neighbours differ from word0
                for (int w = 0; w < PageScan.WORDS_PER_PAGE; w++) {
                    seg.set(PageScan.WORD, page + 8L * w, word0);
                }
                if (differing >= 0) {
                    seg.set(PageScan.WORD, page + 8L * differing, word0 ^ (1L << random.nextInt(64)));
                }
                for (int from = 0; from < GuestMemory.PAGE_SIZE; from += PageScan.CACHE_LINE) {
                    boolean expected = differing < from / 8;                 // -1, or before the start
                    assertThat(PageScan.uniformScalar(seg, page, from, word0)).as("scalar %d %d", differing, from).isEqualTo(expected);
                    assertThat(PageScan.uniformVector(seg, page, from, word0)).as("vector %d %d", differing, from).isEqualTo(expected);
                    assertThat(PageScan.uniformMismatch(seg, page, from, word0)).as("mismatch %d %d", differing, from).isEqualTo(expected);
                    checked++;
                }
            }
            assertThat(checked).isEqualTo((PageScan.WORDS_PER_PAGE + 1) * (GuestMemory.PAGE_SIZE / PageScan.CACHE_LINE));
        }
    }
}
