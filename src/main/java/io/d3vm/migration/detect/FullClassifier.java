package io.d3vm.migration.detect;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryRegion;

import java.lang.foreign.MemorySegment;

/**
 * QEMU-style detection: residency, then a check of every resident page from its first word,
 * stopping at the first cache line that differs from word 0 (counted as a full check). The first
 * line is checked with plain loads: most normal pages differ there, and for a page decided in one
 * line the vector set-up costs more than it saves.
 */
final class FullClassifier extends BatchClassifier {
    @Override
    public String name() {
        return "full";
    }

    @Override
    protected void classifyBatch(GuestMemory memory, MemoryRegion region, long firstPage, int count, int round,
                                 Classification out) {
        classifyWithResidency(memory, region, firstPage, count, round, out);
    }

    @Override
    protected PageClass classifyResident(MemorySegment host, long offset, int round, long[] patterns, int i) {
        stats.fullChecks++;
        long word0 = PageScan.word(host, offset);
        if (!PageScan.uniformLine0(host, offset, word0) || !PageScan.uniformFrom(host, offset, PageScan.CACHE_LINE, word0)) {
            patterns[i] = 0;
            return PageClass.NORMAL;
        }
        return dispensable(word0, patterns, i);
    }
}
