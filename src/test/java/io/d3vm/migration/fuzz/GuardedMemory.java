package io.d3vm.migration.fuzz;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryLayout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * Guest memory whose every range sits between two guard segments filled with a canary, all in one
 * native allocation: a write that lands outside a range — through a wrong region, a wrong base, an
 * unchecked offset into the parent allocation — changes a guard, and {@link #guardsIntact} says so.
 * The fuzz targets build every destination guest this way.
 */
final class GuardedMemory implements AutoCloseable {
    static final int GUARD = 2 * 4096;
    static final byte CANARY = (byte) 0xA5;
    private static final long CANARY_WORD = 0xA5A5A5A5A5A5A5A5L;

    private final Arena arena = Arena.ofShared(); // the receiver's digest reads memory from worker threads
    private final List<MemorySegment> guards = new ArrayList<>();
    final GuestMemory memory;

    GuardedMemory(MemoryLayout layout) {
        List<MemorySegment> ranges = new ArrayList<>();
        long total = GUARD;
        for (MemoryLayout.Range r : layout.ranges()) {
            total += r.size() + GUARD;
        }
        MemorySegment all = arena.allocate(total, 4096);
        long off = 0;
        for (MemoryLayout.Range r : layout.ranges()) {
            guards.add(all.asSlice(off, GUARD));
            off += GUARD;
            ranges.add(all.asSlice(off, r.size()));
            off += r.size();
        }
        guards.add(all.asSlice(off, GUARD));
        for (MemorySegment g : guards) {
            g.fill(CANARY);
        }
        memory = GuestMemory.wrap(layout, ranges);
    }

    boolean guardsIntact() {
        for (MemorySegment g : guards) {
            for (long o = 0; o < g.byteSize(); o += 8) {
                if (g.get(ValueLayout.JAVA_LONG_UNALIGNED, o) != CANARY_WORD) {
                    return false;
                }
            }
        }
        return true;
    }

    @Override
    public void close() {
        arena.close();
    }
}
