package io.d3vm.migration.detect;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static io.d3vm.memory.GuestMemory.PAGE_SIZE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PageClassifierTest {
    private static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Detectors that read pages, with the sample counts worth covering. */
    static Stream<Arguments> readingDetectors() {
        return Stream.of(Arguments.of("full", 8), Arguments.of("d3", 0), Arguments.of("d3", 1),
                Arguments.of("d3", 8), Arguments.of("d3", 16), Arguments.of("d3", 64));
    }

    /** Reading detectors crossed with seeds for the randomised tests. */
    static Stream<Arguments> readingDetectorsAndSeeds() {
        return readingDetectors().flatMap(a -> Stream.of(11L, 2026L, 0xD3L)
                .map(seed -> Arguments.of(a.get()[0], a.get()[1], seed)));
    }

    /** Classifies every page of {@code mem} in batches that respect region ends; round 1. */
    private static PageClass[] classifyAll(PageClassifier c, GuestMemory mem, int round) {
        PageClass[] result = new PageClass[(int) mem.pageCount()];
        Classification out = new Classification();
        long[] patterns = new long[result.length];
        for (var r : mem.regions()) {
            for (long p = r.firstPageIndex(); p < r.endPageIndex(); ) {
                int n = (int) Math.min(PageClassifier.MAX_BATCH, r.endPageIndex() - p);
                c.classify(mem, p, n, round, out);
                for (int i = 0; i < n; i++) {
                    result[(int) (p + i)] = out.classOf(i);
                    patterns[(int) (p + i)] = out.patterns[i];
                }
                p += n;
            }
        }
        lastPatterns = patterns;
        return result;
    }

    private static long[] lastPatterns;

    private static void touch(MemorySegment page) {
        page.set(ValueLayout.JAVA_BYTE, 0, (byte) 0); // backs the page with host memory, content stays zero
    }

    private static void fillWord(MemorySegment page, long word) {
        for (long o = 0; o < PAGE_SIZE; o += 8) {
            page.set(LE_LONG, o, word);
        }
    }

    @ParameterizedTest
    @MethodSource("readingDetectors")
    void shouldClassifyEveryPageClass(String name, int samples) {
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(8L * PAGE_SIZE))) {
            touch(mem.page(0));                                   // ZERO, resident
            fillWord(mem.page(1), 0xCCCC_CCCC_CCCC_CCCCL);        // UNIFORM (poison)
            fillWord(mem.page(2), -1L);                            // UNIFORM 0xff..
            mem.page(3).set(ValueLayout.JAVA_BYTE, 4095, (byte) 1); // NORMAL at the very end
            byte[] rnd = new byte[PAGE_SIZE];
            new Random(3).nextBytes(rnd);
            mem.page(4).copyFrom(MemorySegment.ofArray(rnd));      // NORMAL random
            fillWord(mem.page(5), 0x0102_0304_0506_0708L);        // UNIFORM, bytes differ within the word
            // pages 6, 7 never touched: UNPOPULATED

            PageClassifier c = Detectors.create(name, samples);
            PageClass[] classes = classifyAll(c, mem, 1);

            assertThat(classes).containsExactly(PageClass.ZERO, PageClass.UNIFORM, PageClass.UNIFORM,
                    PageClass.NORMAL, PageClass.NORMAL, PageClass.UNIFORM, PageClass.UNPOPULATED, PageClass.UNPOPULATED);
            assertThat(lastPatterns[1]).isEqualTo(0xCCCC_CCCC_CCCC_CCCCL);
            assertThat(lastPatterns[2]).isEqualTo(-1L);
            assertThat(lastPatterns[5]).isEqualTo(0x0102_0304_0506_0708L);
            assertThat(lastPatterns[0]).isZero();

            DetectorStats s = c.stats();
            assertThat(s.pages(PageClass.ZERO)).isEqualTo(1);
            assertThat(s.pages(PageClass.UNIFORM)).isEqualTo(3);
            assertThat(s.pages(PageClass.NORMAL)).isEqualTo(2);
            assertThat(s.pages(PageClass.UNPOPULATED)).isEqualTo(2);
            assertThat(s.totalPages()).isEqualTo(8);
            assertThat(s.dispensablePages()).isEqualTo(6);
            // page 3's only difference sits in its last word, which samples may or may not hit
            assertThat(s.samplerMisses).isBetween(0L, name.equals("full") ? 0L : 1L);
        }
    }

    @Test
    void noneShouldCallEveryPageNormalWithoutReadingIt() {
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(4L * PAGE_SIZE))) {
            touch(mem.page(0));
            fillWord(mem.page(1), 0xCCCC_CCCC_CCCC_CCCCL);
            PageClassifier c = Detectors.create("none", 8);
            assertThat(classifyAll(c, mem, 1)).containsOnly(PageClass.NORMAL);
            boolean[] res = new boolean[2];
            mem.residentPages(2, 2, res);
            assertThat(res).as("none must not fault untouched pages in").containsOnly(false);
            assertThat(c.stats().pages(PageClass.NORMAL)).isEqualTo(4);
            assertThat(c.stats().sampledWords).isZero();
            assertThat(c.stats().fullChecks).isZero();
        }
    }

    @ParameterizedTest
    @MethodSource("readingDetectors")
    void shouldCallUntouchedMappedPagesUnpopulatedWithoutFaultingThemIn(String name, int samples) {
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(1024L * PAGE_SIZE))) {
            PageClassifier c = Detectors.create(name, samples);
            assertThat(classifyAll(c, mem, 1)).containsOnly(PageClass.UNPOPULATED);
            boolean[] res = new boolean[512];
            mem.residentPages(0, 512, res);
            assertThat(res).containsOnly(false);
            assertThat(c.stats().fullChecks).isZero();
            assertThat(c.stats().sampledWords).isZero();
        }
    }

    @ParameterizedTest
    @MethodSource("readingDetectors")
    void shouldMeasureTheUnpopulatedRunAcrossResidencyWindowsUpToTheFirstBackedPage(String name, int samples) {
        // 40 000 pages (two and a half residency windows); the host backs pages 20 000 and 39 999 only.
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(40_000L * PAGE_SIZE))) {
            touch(mem.page(20_000));
            touch(mem.page(39_999));
            PageClassifier c = Detectors.create(name, samples);
            assertThat(c.unpopulatedRun(mem, 0, 40_000)).isEqualTo(20_000);
            assertThat(c.unpopulatedRun(mem, 20_000, 40_000)).isZero();
            assertThat(c.unpopulatedRun(mem, 20_001, 100)).as("bounded by max").isEqualTo(100);
            assertThat(c.unpopulatedRun(mem, 20_001, 40_000)).as("bounded by the region").isEqualTo(19_998);
            assertThat(c.stats().pages(PageClass.UNPOPULATED)).isEqualTo(20_000 + 100 + 19_998);
            assertThat(c.stats().sampledWords).isZero();
            boolean[] res = new boolean[1];
            mem.residentPages(30_000, 1, res);
            assertThat(res[0]).as("asking must not fault pages in").isFalse();
        }
    }

    @Test
    void noneShouldReportNoUnpopulatedRunBecauseItSendsEveryPage() {
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(1024L * PAGE_SIZE))) {
            PageClassifier c = Detectors.create("none", 8);
            assertThat(c.unpopulatedRun(mem, 0, 1024)).isZero();
            assertThat(c.stats().pages(PageClass.UNPOPULATED)).isZero();
        }
    }

    @ParameterizedTest
    @MethodSource("readingDetectorsAndSeeds")
    void shouldNeverCallAPageWithOneNonZeroByteDispensable(String name, int samples, long seed) {
        Random rnd = new Random(seed);
        // page i has its single non-zero byte at offset i: every offset of a page, once
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat((long) PAGE_SIZE * PAGE_SIZE))) {
            for (int i = 0; i < PAGE_SIZE; i++) {
                mem.page(i).set(ValueLayout.JAVA_BYTE, i, (byte) (1 + rnd.nextInt(255)));
            }
            PageClassifier c = Detectors.create(name, samples);
            int round = 1 + rnd.nextInt(1000);
            assertThat(classifyAll(c, mem, round)).containsOnly(PageClass.NORMAL);
            assertThat(c.stats().pages(PageClass.NORMAL)).isEqualTo(PAGE_SIZE);
        }
    }

    @ParameterizedTest
    @MethodSource("readingDetectorsAndSeeds")
    void shouldNeverCallAUniformPageWithOneDifferingByteDispensable(String name, int samples, long seed) {
        Random rnd = new Random(seed);
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat((long) PAGE_SIZE * PAGE_SIZE))) {
            for (int i = 0; i < PAGE_SIZE; i++) {
                long pattern = rnd.nextLong();
                if (rnd.nextInt(4) == 0) {
                    pattern = 0; // a zero page with one stray byte is the same hazard
                }
                MemorySegment page = mem.page(i);
                fillWord(page, pattern);
                byte old = page.get(ValueLayout.JAVA_BYTE, i);
                page.set(ValueLayout.JAVA_BYTE, i, (byte) (old ^ (1 + rnd.nextInt(255))));
            }
            PageClassifier c = Detectors.create(name, samples);
            assertThat(classifyAll(c, mem, 1 + rnd.nextInt(1000))).containsOnly(PageClass.NORMAL);
        }
    }

    @ParameterizedTest
    @MethodSource("readingDetectorsAndSeeds")
    void shouldClassifyZeroAndUniformPagesWithTheirPattern(String name, int samples, long seed) {
        Random rnd = new Random(seed);
        int pages = 600;
        long[] expected = new long[pages];
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat((long) pages * PAGE_SIZE))) {
            for (int i = 0; i < pages; i++) {
                expected[i] = switch (rnd.nextInt(4)) {
                    case 0 -> 0L;
                    case 1 -> 0xCCCC_CCCC_CCCC_CCCCL;
                    default -> rnd.nextLong();
                };
                fillWord(mem.page(i), expected[i]);
            }
            PageClassifier c = Detectors.create(name, samples);
            PageClass[] classes = classifyAll(c, mem, 1 + rnd.nextInt(1000));
            for (int i = 0; i < pages; i++) {
                assertThat(classes[i]).as("page %d", i).isEqualTo(expected[i] == 0 ? PageClass.ZERO : PageClass.UNIFORM);
                assertThat(lastPatterns[i]).as("pattern of page %d", i).isEqualTo(expected[i]);
            }
            assertThat(c.stats().fullChecks).isEqualTo(pages);
        }
    }

    @ParameterizedTest
    @MethodSource("readingDetectorsAndSeeds")
    void shouldCountEveryPageExactlyOnce(String name, int samples, long seed) {
        Random rnd = new Random(seed);
        int pages = 1500; // three batches, the last one partial
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat((long) pages * PAGE_SIZE))) {
            int[] expected = new int[PageClass.values().length];
            for (int i = 0; i < pages; i++) {
                MemorySegment p = mem.page(i);
                switch (rnd.nextInt(5)) {
                    case 0 -> { touch(p); expected[PageClass.ZERO.ordinal()]++; }
                    case 1 -> { fillWord(p, 0xFFL << (8 * rnd.nextInt(8))); expected[PageClass.UNIFORM.ordinal()]++; }
                    case 2 -> { p.set(LE_LONG, 8L * rnd.nextInt(512), 1L + rnd.nextInt(1 << 30)); expected[PageClass.NORMAL.ordinal()]++; }
                    case 3 -> { byte[] b = new byte[PAGE_SIZE]; rnd.nextBytes(b); b[0] = 1; b[8] = 2;
                        p.copyFrom(MemorySegment.ofArray(b)); expected[PageClass.NORMAL.ordinal()]++; }
                    default -> expected[PageClass.UNPOPULATED.ordinal()]++;
                }
            }
            PageClassifier c = Detectors.create(name, samples);
            classifyAll(c, mem, 1);
            DetectorStats s = c.stats();
            for (PageClass pc : PageClass.values()) {
                assertThat(s.pages(pc)).as(pc.name()).isEqualTo(expected[pc.ordinal()]);
            }
            assertThat(s.totalPages()).isEqualTo(pages);
            long resident = pages - expected[PageClass.UNPOPULATED.ordinal()];
            if (name.equals("full")) {
                assertThat(s.fullChecks).isEqualTo(resident);
            } else {
                // every resident page reads its first cache line; full checks happen only when samples agree
                assertThat(s.sampledWords).isGreaterThanOrEqualTo(8 * resident);
                assertThat(s.fullChecks).isEqualTo(expected[PageClass.ZERO.ordinal()]
                        + expected[PageClass.UNIFORM.ordinal()] + s.samplerMisses);
            }
            DetectorStats merged = new DetectorStats();
            merged.add(s);
            merged.add(s);
            assertThat(merged.totalPages()).isEqualTo(2L * pages);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 8, 16, 64})
    void d3ShouldCountAFalseDispensableWhenOnlyTheFullCheckSeesTheDifference(int samples) {
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(PAGE_SIZE))) {
            // samples never land on the 64-byte grid, so a word at 128 is invisible to them
            mem.page(0).set(LE_LONG, 128, 42L);
            PageClassifier c = Detectors.create("d3", samples);
            assertThat(classifyAll(c, mem, 7)).containsExactly(PageClass.NORMAL);
            assertThat(c.stats().samplerMisses).isEqualTo(1);
            assertThat(c.stats().fullChecks).isEqualTo(1);
            assertThat(c.stats().sampledWords).isEqualTo(8 + samples);
        }
    }

    @Test
    void d3ShouldRejectOnTheFirstCacheLineWithoutAFullCheck() {
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(PAGE_SIZE))) {
            mem.page(0).set(LE_LONG, 40, 1L);
            PageClassifier c = Detectors.create("d3", 16);
            assertThat(classifyAll(c, mem, 1)).containsExactly(PageClass.NORMAL);
            assertThat(c.stats().sampledWords).isEqualTo(8);
            assertThat(c.stats().fullChecks).isZero();
        }
    }

    @Test
    void d3ShouldRejectOnASampleWithoutAFullCheck() {
        int[] plan = SamplePlan.offsets(8, 3);
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(PAGE_SIZE))) {
            mem.page(0).set(LE_LONG, plan[2], 5L);
            PageClassifier c = Detectors.create("d3", 8);
            assertThat(classifyAll(c, mem, 3)).containsExactly(PageClass.NORMAL);
            assertThat(c.stats().sampledWords).as("first line, then samples up to the third").isEqualTo(8 + 3);
            assertThat(c.stats().fullChecks).isZero();
            assertThat(c.stats().samplerMisses).isZero();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "full", "d3"})
    void shouldWorkOnHeapWrappedMemoryAcrossRegions(String name) {
        MemoryLayout layout = MemoryLayout.of(0, 3L * PAGE_SIZE, 1L << 32, 2L * PAGE_SIZE);
        byte[] a = new byte[3 * PAGE_SIZE];
        byte[] b = new byte[2 * PAGE_SIZE];
        a[PAGE_SIZE + 100] = 9;                 // region 0: ZERO, NORMAL, ZERO
        MemorySegment sb = MemorySegment.ofArray(b);
        for (long o = 0; o < PAGE_SIZE; o += 8) {
            sb.set(LE_LONG, o, 0x5A5AL);        // region 1: UNIFORM, ZERO
        }
        GuestMemory mem = GuestMemory.wrap(layout, List.of(MemorySegment.ofArray(a), sb));
        PageClassifier c = Detectors.create(name, 8);
        PageClass[] classes = classifyAll(c, mem, 1);
        if (name.equals("none")) {
            assertThat(classes).containsOnly(PageClass.NORMAL);
        } else {
            // heap memory is always resident: no UNPOPULATED
            assertThat(classes).containsExactly(PageClass.ZERO, PageClass.NORMAL, PageClass.ZERO,
                    PageClass.UNIFORM, PageClass.ZERO);
            assertThat(lastPatterns[3]).isEqualTo(0x5A5AL);
        }
        assertThatThrownBy(() -> c.classify(mem, 2, 2, 1, new Classification()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cross");
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "full", "d3"})
    void shouldRejectBadBatches(String name) {
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(PAGE_SIZE))) {
            PageClassifier c = Detectors.create(name, 8);
            assertThatThrownBy(() -> c.classify(mem, 0, PageClassifier.MAX_BATCH + 1, 1, new Classification()))
                    .isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> c.classify(mem, 0, 1, 0, new Classification()))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("round");
            assertThatThrownBy(() -> c.classify(mem, 0, 2, 1, new Classification(1)))
                    .isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> c.classify(mem, 1, 1, 1, new Classification()))
                    .isInstanceOf(IndexOutOfBoundsException.class);
            c.classify(mem, 0, 0, 1, new Classification());
            assertThat(c.stats().totalPages()).isZero();
        }
    }
}
