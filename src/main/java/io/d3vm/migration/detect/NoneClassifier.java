package io.d3vm.migration.detect;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryRegion;

import java.util.Arrays;

/** The paper's baseline (Xen's stock pre-copy): every page is NORMAL; nothing is read or asked. */
final class NoneClassifier extends BatchClassifier {
    @Override
    public String name() {
        return "none";
    }

    @Override
    protected boolean usesResidency() {
        return false;
    }

    @Override
    protected void classifyBatch(GuestMemory memory, MemoryRegion region, long firstPage, int count, int round,
                                 Classification out) {
        Arrays.fill(out.classes, 0, count, (byte) PageClass.NORMAL.ordinal());
        Arrays.fill(out.patterns, 0, count, 0L);
        stats.pages[PageClass.NORMAL.ordinal()] += count;
    }
}
