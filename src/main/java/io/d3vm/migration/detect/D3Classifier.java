package io.d3vm.migration.detect;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryRegion;

import java.lang.foreign.MemorySegment;

/**
 * D3 detection (DESIGN.md, "Our decisions" 1, 2 and 4): residency, then a probe of each page (its
 * first cache line, then {@code k} sampled words from {@link SamplePlan}); any word that differs
 * from word 0 makes the page NORMAL at once. Sampling only rejects: a page whose probe agrees gets
 * the full check, and only that may call it dispensable; when it does not, the page counts as a
 * false-dispensable (what sampling-only acceptance would have lost).
 *
 * <p>Shape, chosen by measurement (docs/BENCHMARKS.md, "Detector"): the probe of the next
 * resident page is issued before the current page's full check, so its cache misses overlap that
 * scan instead of stalling in front of it (hardware prefetchers stop at page boundaries), and the
 * samples are folded into one branch. Probing in front of each page cost 5-15 % against the
 * early-exit scan on zero-heavy memory; pipelined, it costs nothing there and still rejects
 * pages whose content starts late without scanning them.
 */
final class D3Classifier extends BatchClassifier {
    private final int samples;
    private final boolean pipelined;
    private final boolean[] resident = new boolean[MAX_BATCH];
    private int planRound;
    private int[] plan;

    D3Classifier(int samples) {
        this(samples, true);
    }

    /** {@code pipelined=false} probes each page right before its own full check (kept to benchmark the choice). */
    D3Classifier(int samples, boolean pipelined) {
        this.samples = samples;
        this.pipelined = pipelined;
        this.plan = SamplePlan.offsets(samples, 1);
        this.planRound = 1;
    }

    @Override
    public String name() {
        return "d3";
    }

    int samples() {
        return samples;
    }

    @Override
    protected void classifyBatch(GuestMemory memory, MemoryRegion region, long firstPage, int count, int round,
                                 Classification out) {
        if (round != planRound) {
            plan = SamplePlan.offsets(samples, round);
            planRound = round;
        }
        memory.residentPages(firstPage, count, resident);
        MemorySegment host = region.host();
        long base = (firstPage - region.firstPageIndex()) << GuestMemory.PAGE_SHIFT;
        long[] pages = stats.pages;

        int next = nextResident(0, count);
        long nextWord = 0;
        long nextDiff = 0;
        if (pipelined && next < count) {
            long o = base + ((long) next << GuestMemory.PAGE_SHIFT);
            nextWord = PageScan.word(host, o);
            nextDiff = probe(host, o, nextWord);
        }
        for (int i = 0; i < count; i++) {
            PageClass c;
            if (!resident[i]) {
                c = PageClass.UNPOPULATED;
                out.patterns[i] = 0;
            } else if (!pipelined) {
                long o = base + ((long) i << GuestMemory.PAGE_SHIFT);
                long word0 = PageScan.word(host, o);
                c = decide(host, o, word0, probe(host, o, word0), out.patterns, i);
            } else {
                long word0 = nextWord;
                long diff = nextDiff;
                next = nextResident(i + 1, count);
                if (next < count) {
                    // Pipelined: the next page's probe loads are issued before this page's scan.
                    long o = base + ((long) next << GuestMemory.PAGE_SHIFT);
                    nextWord = PageScan.word(host, o);
                    nextDiff = probe(host, o, nextWord);
                }
                c = decide(host, base + ((long) i << GuestMemory.PAGE_SHIFT), word0, diff, out.patterns, i);
            }
            out.classes[i] = (byte) c.ordinal();
            pages[c.ordinal()]++;
        }
    }

    private int nextResident(int from, int count) {
        int i = from;
        while (i < count && !resident[i]) {
            i++;
        }
        return i;
    }

    /**
     * The first cache line and, only when it agrees with word 0, every sample; folded into one
     * value that is zero when all agree. Counts the words it reads.
     */
    private long probe(MemorySegment host, long o, long word0) {
        if (!PageScan.uniformLine0(host, o, word0)) {
            // In real guests most normal pages already differ here (DESIGN.md decision 4).
            stats.sampledWords += 8;
            return 1;
        }
        long diff = 0;
        int[] p = plan;
        for (int s = 0; s < p.length; s++) {
            diff |= PageScan.word(host, o + p[s]) ^ word0;
        }
        stats.sampledWords += 8 + p.length;
        return diff;
    }

    private PageClass decide(MemorySegment host, long o, long word0, long probeDiff, long[] patterns, int i) {
        if (probeDiff != 0) {
            patterns[i] = 0;
            return PageClass.NORMAL;
        }
        stats.fullChecks++;
        if (!PageScan.uniformFrom(host, o, PageScan.CACHE_LINE, word0)) {
            stats.falseDispensable++;
            patterns[i] = 0;
            return PageClass.NORMAL;
        }
        return dispensable(word0, patterns, i);
    }
}
