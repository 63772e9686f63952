package io.d3vm.vmm.vstate;

import io.d3vm.kvm.VmFd;
import io.d3vm.memory.DirtyBitmap;
import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryRegion;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * Which guest pages were written: KVM's per-memslot dirty log (what the vCPUs wrote) and the
 * VMM's own bitmap (what devices and loaders wrote through {@link #vmmWrote}, which KVM cannot
 * see). Also registers the memslots, since turning the log on and off is a re-registration.
 * Thread-safe: every method is synchronized.
 */
final class DirtyLog {
    private final VmFd vmFd;
    private final GuestMemory memory;
    private final DirtyBitmap vmmDirty;
    // One native bitmap per memslot while logging is on.
    private Arena arena;
    private MemorySegment[] bitmaps;

    DirtyLog(VmFd vmFd, GuestMemory memory) {
        this.vmFd = vmFd;
        this.memory = memory;
        this.vmmDirty = new DirtyBitmap(memory.pageCount());
    }

    /** (Re-)registers every memory region as a memslot (slot i = region i) with {@code flags}. */
    synchronized void registerMemory(int flags) {
        List<MemoryRegion> regions = memory.regions();
        for (int slot = 0; slot < regions.size(); slot++) {
            MemoryRegion r = regions.get(slot);
            // SAFETY: the host mapping lives as long as `memory`, which outlives the VM fd
            // (Vm.close() closes the VM first, then unmaps).
            vmFd.setUserMemoryRegion(slot, flags, r.guestPhysAddr(), r.size(), r.host().address());
        }
    }

    /** Records that the VMM wrote the pages of {@code [gpa, gpa + length)}. */
    void vmmWrote(long gpa, int length) {
        long first = memory.pageIndexOf(gpa);
        long last = memory.pageIndexOf(gpa + Math.max(0, length - 1));
        for (long p = first; p <= last; p++) {
            vmmDirty.set(p);
        }
    }

    /** Re-registers every memslot with {@code KVM_MEM_LOG_DIRTY_PAGES}; the log starts empty. */
    synchronized void start() {
        if (arena != null) {
            return;
        }
        Arena a = Arena.ofShared();
        MemorySegment[] b = new MemorySegment[memory.regions().size()];
        for (int slot = 0; slot < b.length; slot++) {
            long words = (memory.regions().get(slot).pages() + 63) >>> 6;
            b[slot] = a.allocate(words * 8, 8);
        }
        vmmDirty.clearAll();
        registerMemory(VmFd.MEM_LOG_DIRTY_PAGES);
        arena = a;
        bitmaps = b;
    }

    /**
     * ORs into {@code into} the pages written since the last call: KVM's per-slot log
     * ({@code KVM_GET_DIRTY_LOG} fetches and clears it atomically per word) and the VMM's own
     * bitmap (drained word by word atomically). A write racing with this call shows now or next time.
     */
    synchronized void collect(DirtyBitmap into) {
        if (arena == null) {
            throw new IllegalStateException("dirty logging is not on");
        }
        if (into.pages() != memory.pageCount()) {
            throw new IllegalArgumentException("bitmap of " + into.pages() + " pages for a guest of " + memory.pageCount());
        }
        List<MemoryRegion> regions = memory.regions();
        for (int slot = 0; slot < regions.size(); slot++) {
            MemoryRegion r = regions.get(slot);
            MemorySegment bitmap = bitmaps[slot];
            vmFd.getDirtyLog(slot, bitmap);
            into.orWords(r.firstPageIndex(), bitmap.toArray(ValueLayout.JAVA_LONG), r.pages());
        }
        vmmDirty.drainInto(into);
    }

    /** Turns the log off; {@code reregister} false when the VM is being closed (its slots go with it). */
    synchronized void stop(boolean reregister) {
        if (arena == null) {
            return;
        }
        if (reregister) {
            registerMemory(0);
        }
        arena.close();
        arena = null;
        bitmaps = null;
    }
}
