package io.d3vm.migration.detect;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryRegion;

import java.lang.foreign.MemorySegment;

/**
 * D3 detection (docs/DESIGN.md, decisions 1, 2 and 4): residency, then the first cache line,
 * then {@code k} sampled words from {@link SamplePlan}; any word that differs from word 0 makes
 * the page NORMAL at once. Sampling only rejects: a page whose samples all agree gets the full
 * check, and only that may call it dispensable; when it does not, the page counts as a
 * sampler-misses (what sampling-only acceptance would have lost).
 *
 * <p>Shape, chosen by measurement (docs/BENCHMARKS.md, "Detector"): the first line is folded
 * into one branch (most normal pages differ there), the samples exit at the first disagreement
 * (on pages whose content starts late that saves the rest of the probes). Folding the samples
 * too, or pipelining the probe one page ahead of the full check, measured slower.
 */
final class D3Classifier extends BatchClassifier {
    private final int samples;
    private int planRound;
    private int[] plan;

    D3Classifier(int samples) {
        this.samples = samples;
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
        classifyWithResidency(memory, region, firstPage, count, round, out);
    }

    @Override
    protected PageClass classifyResident(MemorySegment host, long offset, int round, long[] patterns, int i) {
        long word0 = PageScan.word(host, offset);
        if (!PageScan.uniformLine0(host, offset, word0)) {
            stats.sampledWords += 8;
            patterns[i] = 0;
            return PageClass.NORMAL;
        }
        int[] p = plan;
        for (int s = 0; s < p.length; s++) {
            if (PageScan.word(host, offset + p[s]) != word0) {
                stats.sampledWords += 9 + s;
                patterns[i] = 0;
                return PageClass.NORMAL;
            }
        }
        stats.sampledWords += 8 + p.length;
        stats.fullChecks++;
        if (!PageScan.uniformFrom(host, offset, PageScan.CACHE_LINE, word0)) {
            stats.samplerMisses++;
            patterns[i] = 0;
            return PageClass.NORMAL;
        }
        return dispensable(word0, patterns, i);
    }
}
