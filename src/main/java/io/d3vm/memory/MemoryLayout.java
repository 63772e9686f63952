package io.d3vm.memory;

import java.util.ArrayList;
import java.util.List;

/**
 * The shape of a guest's physical memory: page-aligned, non-overlapping ranges in ascending
 * guest-physical order. Pages are numbered globally across the ranges (page index 0 is the first
 * page of the first range), which is how dirty bitmaps and the wire protocol name pages.
 *
 * <p>Validated once when built, so everything that holds a layout may trust it.
 */
public record MemoryLayout(List<Range> ranges) {

    /** One contiguous guest-physical range. */
    public record Range(long guestPhysAddr, long size) {
        public Range {
            if (guestPhysAddr < 0 || (guestPhysAddr & GuestMemory.PAGE_MASK) != 0) {
                throw new IllegalArgumentException("range start 0x" + Long.toHexString(guestPhysAddr) + " is not page aligned");
            }
            if (size <= 0 || (size & GuestMemory.PAGE_MASK) != 0) {
                throw new IllegalArgumentException("range size " + size + " is not a positive multiple of 4096");
            }
            if (guestPhysAddr + size < guestPhysAddr) {
                throw new IllegalArgumentException("range overflows the address space");
            }
        }

        public long end() {
            return guestPhysAddr + size;
        }

        public long pages() {
            return size >>> GuestMemory.PAGE_SHIFT;
        }
    }

    public MemoryLayout {
        ranges = List.copyOf(ranges);
        if (ranges.isEmpty()) {
            throw new IllegalArgumentException("a memory layout needs at least one range");
        }
        for (int i = 1; i < ranges.size(); i++) {
            if (ranges.get(i).guestPhysAddr() < ranges.get(i - 1).end()) {
                throw new IllegalArgumentException("memory ranges overlap or are not in ascending order");
            }
        }
    }

    /** A single range at guest-physical 0. */
    public static MemoryLayout flat(long size) {
        return new MemoryLayout(List.of(new Range(0, size)));
    }

    /** Builds a layout from (start, size) pairs. */
    public static MemoryLayout of(long... startSizePairs) {
        List<Range> r = new ArrayList<>();
        for (int i = 0; i + 1 < startSizePairs.length; i += 2) {
            r.add(new Range(startSizePairs[i], startSizePairs[i + 1]));
        }
        return new MemoryLayout(r);
    }

    public long totalBytes() {
        long t = 0;
        for (Range r : ranges) {
            t += r.size();
        }
        return t;
    }

    public long totalPages() {
        return totalBytes() >>> GuestMemory.PAGE_SHIFT;
    }
}
