package io.d3vm.memory;

import io.d3vm.sys.LibC;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * A guest's physical memory: regions of anonymous host memory (mmap, not the Java heap) addressed
 * with {@code long} offsets, so guests above 2 GiB just work.
 *
 * <p>Pages carry a global index across regions (see {@link MemoryLayout}). The engine reads and
 * writes pages by index; the VMM registers each region's host address as a KVM memslot.
 * {@link #residentPages} asks the kernel which pages were ever backed, so the never-touched ones
 * can be called UNPOPULATED without reading them.
 */
public final class GuestMemory implements AutoCloseable {
    public static final int PAGE_SHIFT = 12;
    public static final int PAGE_SIZE = 1 << PAGE_SHIFT;
    public static final long PAGE_MASK = PAGE_SIZE - 1;

    private final MemoryLayout layout;
    private final List<MemoryRegion> regions;
    private final long pageCount;
    private final boolean owned;
    /** False for file mappings: mincore there reports page-cache residency, not "never written". */
    private final boolean residencyFromKernel;
    /** A mapping to unmap on close besides the owned regions (an image file), or null. */
    private final MemorySegment extraMapping;
    private volatile boolean closed;

    private GuestMemory(MemoryLayout layout, List<MemoryRegion> regions, boolean owned) {
        this(layout, regions, owned, true, null);
    }

    private GuestMemory(MemoryLayout layout, List<MemoryRegion> regions, boolean owned,
                        boolean residencyFromKernel, MemorySegment extraMapping) {
        this.layout = layout;
        this.regions = List.copyOf(regions);
        this.pageCount = layout.totalPages();
        this.owned = owned;
        this.residencyFromKernel = residencyFromKernel;
        this.extraMapping = extraMapping;
    }

    /** Maps fresh zero-filled anonymous memory for every range of the layout. */
    public static GuestMemory allocate(MemoryLayout layout) {
        List<MemoryRegion> regions = new ArrayList<>();
        long page = 0;
        try {
            for (MemoryLayout.Range r : layout.ranges()) {
                MemorySegment host = LibC.mmapAnonymous(r.size());
                regions.add(new MemoryRegion(r.guestPhysAddr(), host, page));
                page += r.pages();
            }
        } catch (RuntimeException e) {
            regions.forEach(reg -> LibC.munmap(reg.host()));
            throw e;
        }
        return new GuestMemory(layout, regions, true);
    }

    /** Wraps existing segments (e.g. heap memory in tests); the caller keeps ownership. */
    public static GuestMemory wrap(MemoryLayout layout, List<MemorySegment> segments) {
        if (segments.size() != layout.ranges().size()) {
            throw new IllegalArgumentException("need one segment per range");
        }
        List<MemoryRegion> regions = new ArrayList<>();
        long page = 0;
        for (int i = 0; i < segments.size(); i++) {
            MemoryLayout.Range r = layout.ranges().get(i);
            if (segments.get(i).byteSize() != r.size()) {
                throw new IllegalArgumentException("segment " + i + " size differs from its range");
            }
            regions.add(new MemoryRegion(r.guestPhysAddr(), segments.get(i), page));
            page += r.pages();
        }
        return new GuestMemory(layout, regions, false);
    }

    /**
     * Read-only guest memory over slices of a file mapping (a memory image; {@code analyze} and
     * the benchmarks use it). Every page counts as resident: a file page holds its data whether or
     * not the page cache has it. Writes throw; {@link #close} unmaps {@code mapping} (when not null:
     * a caller that views memory it owns elsewhere passes null).
     */
    public static GuestMemory ofImage(MemoryLayout layout, List<MemorySegment> segments, MemorySegment mapping) {
        if (segments.size() != layout.ranges().size()) {
            throw new IllegalArgumentException("need one segment per range");
        }
        List<MemoryRegion> regions = new ArrayList<>();
        long page = 0;
        for (int i = 0; i < segments.size(); i++) {
            MemoryLayout.Range r = layout.ranges().get(i);
            if (segments.get(i).byteSize() != r.size()) {
                throw new IllegalArgumentException("segment " + i + " size differs from its range");
            }
            regions.add(new MemoryRegion(r.guestPhysAddr(), segments.get(i).asReadOnly(), page));
            page += r.pages();
        }
        return new GuestMemory(layout, regions, false, false, mapping);
    }

    public MemoryLayout layout() {
        return layout;
    }

    public List<MemoryRegion> regions() {
        return regions;
    }

    public long pageCount() {
        return pageCount;
    }

    public long totalBytes() {
        return pageCount << PAGE_SHIFT;
    }

    /** The region holding global page {@code pageIndex}. */
    public MemoryRegion regionOfPage(long pageIndex) {
        checkPage(pageIndex);
        for (MemoryRegion r : regions) {
            if (pageIndex < r.endPageIndex()) {
                return r;
            }
        }
        throw new AssertionError("unreachable: page index checked");
    }

    /** The 4 KiB host slice of global page {@code pageIndex}. */
    public MemorySegment page(long pageIndex) {
        MemoryRegion r = regionOfPage(pageIndex);
        return r.host().asSlice((pageIndex - r.firstPageIndex()) << PAGE_SHIFT, PAGE_SIZE);
    }

    /** Global page index of a guest-physical address, or -1 when no region holds it. */
    public long pageIndexOf(long gpa) {
        for (MemoryRegion r : regions) {
            if (r.containsGpa(gpa)) {
                return r.firstPageIndex() + ((gpa - r.guestPhysAddr()) >>> PAGE_SHIFT);
            }
        }
        return -1;
    }

    public long gpaOfPage(long pageIndex) {
        MemoryRegion r = regionOfPage(pageIndex);
        return r.guestPhysAddr() + ((pageIndex - r.firstPageIndex()) << PAGE_SHIFT);
    }

    /**
     * A host view of {@code length} bytes at guest-physical {@code gpa}; the range must lie in one
     * region. Used by loaders and devices that address memory by guest-physical address.
     */
    public MemorySegment slice(long gpa, long length) {
        for (MemoryRegion r : regions) {
            if (r.containsGpa(gpa)) {
                long off = gpa - r.guestPhysAddr();
                if (length < 0 || length > r.size() - off) {
                    break;
                }
                return r.host().asSlice(off, length);
            }
        }
        throw new IllegalArgumentException("guest range [0x" + Long.toHexString(gpa) + ", +" + length
                + ") is not inside one memory region");
    }

    /**
     * Marks in {@code out} (one boolean per page, from {@code firstPage}) the pages the host has
     * backed with memory. Pages never backed read as zero without being touched. Uses
     * {@code mincore}, which works on any page-aligned mapping; heap-wrapped and image memory
     * ({@link #ofImage}) report all pages resident.
     */
    public void residentPages(long firstPage, int count, boolean[] out) {
        if (count == 0) {
            return;
        }
        MemoryRegion r = regionOfPage(firstPage);
        if (firstPage + count > r.endPageIndex()) {
            throw new IllegalArgumentException("resident query crosses a region boundary");
        }
        MemorySegment range = r.host().asSlice((firstPage - r.firstPageIndex()) << PAGE_SHIFT, (long) count << PAGE_SHIFT);
        if (!residencyFromKernel || !range.isNative() || (range.address() & PAGE_MASK) != 0) {
            java.util.Arrays.fill(out, 0, count, true);
            return;
        }
        // The sender asks once per batch (once per page in sparse dirty rounds): reuse one
        // result vector per thread instead of an arena per call.
        MemorySegment vec = MINCORE_VEC.get();
        if (vec.byteSize() < count) {
            vec = Arena.ofAuto().allocate(Math.max(count, 2 * vec.byteSize()));
            MINCORE_VEC.set(vec);
        }
        LibC.mincore(range, vec);
        for (int i = 0; i < count; i++) {
            out[i] = (vec.get(ValueLayout.JAVA_BYTE, i) & 1) != 0;
        }
    }

    private static final ThreadLocal<MemorySegment> MINCORE_VEC = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(512));

    /** Gives a page's host memory back to the kernel: it reads as zero and is unpopulated again. */
    public void discardPage(long pageIndex) {
        MemorySegment p = page(pageIndex);
        if (p.isNative() && owned) {
            LibC.madvise(p, LibC.MADV_DONTNEED);
        } else {
            p.fill((byte) 0);
        }
    }

    private void checkPage(long pageIndex) {
        if (pageIndex < 0 || pageIndex >= pageCount) {
            throw new IndexOutOfBoundsException("page " + pageIndex + " outside guest memory of " + pageCount + " pages");
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (extraMapping != null) {
            LibC.munmap(extraMapping);
        }
        if (owned) {
            for (MemoryRegion r : regions) {
                LibC.munmap(r.host());
            }
        }
    }
}
