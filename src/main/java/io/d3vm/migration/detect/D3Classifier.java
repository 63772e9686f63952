package io.d3vm.migration.detect;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryRegion;

import java.lang.foreign.MemorySegment;

/**
 * D3 detection (DESIGN.md, "Our decisions" 1, 2 and 4): residency, then the first cache line,
 * then {@code k} sampled words from {@link SamplePlan}. Any word that differs from word 0 makes
 * the page NORMAL at once. Sampling only rejects: a page whose samples all agree gets the full
 * check, and only that may call it dispensable; when it does not, the page counts as a
 * false-dispensable (what sampling-only acceptance would have lost).
 */
final class D3Classifier extends BatchClassifier {
    private final int samples;
    private int planRound = -1;
    private int[] plan;

    D3Classifier(int samples) {
        this.plan = SamplePlan.offsets(samples, 1);
        this.planRound = 1;
        this.samples = samples;
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
        classifyWithResidency(memory, region, firstPage, count, round, out);
    }

    @Override
    protected PageClass classifyResident(MemorySegment host, long offset, int round, long[] patterns, int i) {
        long word0 = PageScan.word(host, offset);
        // The first cache line is one memory access and, in real guests, where most normal pages
        // already differ: fold it whole rather than branch per word.
        long diff = (PageScan.word(host, offset + 8) ^ word0)
                | (PageScan.word(host, offset + 16) ^ word0)
                | (PageScan.word(host, offset + 24) ^ word0)
                | (PageScan.word(host, offset + 32) ^ word0)
                | (PageScan.word(host, offset + 40) ^ word0)
                | (PageScan.word(host, offset + 48) ^ word0)
                | (PageScan.word(host, offset + 56) ^ word0);
        long read = 8;
        if (diff != 0) {
            stats.sampledWords += read;
            patterns[i] = 0;
            return PageClass.NORMAL;
        }
        int[] p = plan;
        for (int s = 0; s < p.length; s++) {
            read++;
            if (PageScan.word(host, offset + p[s]) != word0) {
                stats.sampledWords += read;
                patterns[i] = 0;
                return PageClass.NORMAL;
            }
        }
        stats.sampledWords += read;
        stats.fullChecks++;
        if (!PageScan.uniformFrom(host, offset, PageScan.CACHE_LINE, word0)) {
            stats.falseDispensable++;
            patterns[i] = 0;
            return PageClass.NORMAL;
        }
        return dispensable(word0, patterns, i);
    }
}
