package io.d3vm.memory;

import java.lang.foreign.MemorySegment;

/**
 * One guest-physical range backed by host memory.
 *
 * @param guestPhysAddr  first guest-physical address of the range (page aligned)
 * @param host           the host mapping, exactly {@code size} bytes
 * @param firstPageIndex global index of the range's first page within its {@link GuestMemory}
 */
public record MemoryRegion(long guestPhysAddr, MemorySegment host, long firstPageIndex) {
    public long size() {
        return host.byteSize();
    }

    public long pages() {
        return host.byteSize() >>> GuestMemory.PAGE_SHIFT;
    }

    public long endPageIndex() {
        return firstPageIndex + pages();
    }

    public boolean containsGpa(long gpa) {
        return gpa >= guestPhysAddr && gpa - guestPhysAddr < host.byteSize();
    }
}
