package io.d3vm.vmm.boot.linux;

import io.d3vm.memory.MemoryLayout;

import java.util.ArrayList;
import java.util.List;

/**
 * One entry of the BIOS-style memory map ({@code struct boot_e820_entry}: u64 addr, u64 size,
 * u32 type; 20 bytes, packed) that the Linux loader puts into boot_params.
 *
 * @param addr first guest-physical address
 * @param size bytes
 * @param type {@link #RAM} or {@link #RESERVED}
 */
public record E820Entry(long addr, long size, int type) {
    public static final int RAM = 1;
    public static final int RESERVED = 2;
    /** Bytes of one entry in boot_params' e820_table. */
    public static final int BYTES = 20;

    /** End of the area at the bottom of memory that d3vm reserves for its boot structures. */
    public static final long LOW_RESERVED_END = 0x10000;
    /** Start of the extended BIOS data area: from here to 1 MiB a PC has EBDA, VGA memory and ROMs. */
    public static final long EBDA_START = 0x9fc00;
    public static final long HIGH_MEMORY = 0x100000;

    public E820Entry {
        if (size <= 0 || addr < 0 || addr + size < addr) {
            throw new IllegalArgumentException("bad e820 entry [0x" + Long.toHexString(addr) + ", +" + size + ")");
        }
        if (type != RAM && type != RESERVED) {
            throw new IllegalArgumentException("unknown e820 type " + type);
        }
    }

    public long end() {
        return addr + size;
    }

    /**
     * The memory map of a guest with {@code layout}, in ascending order:
     * <ul>
     *   <li>reserved [0, 64 KiB): real-mode IVT/BDA, and what the loader writes there and the kernel
     *       reads before it has its own copies: LongMode's GDT (0x500) and page tables
     *       (0x9000..0xEFFF), boot_params (0x7000), the boot stack;</li>
     *   <li>RAM [64 KiB, 0x9fc00) where the layout has memory (the command line lives here; the kernel
     *       copies it before it allocates anything);</li>
     *   <li>reserved [0x9fc00, 1 MiB): EBDA (where the MP table is), VGA window and BIOS ROM area of
     *       a PC, as Firecracker leaves out of RAM (Linux still finds its real-mode trampoline
     *       memory below);</li>
     *   <li>RAM for every part of the layout at or above 1 MiB.</li>
     * </ul>
     */
    public static List<E820Entry> forLayout(MemoryLayout layout) {
        List<E820Entry> map = new ArrayList<>();
        map.add(new E820Entry(0, LOW_RESERVED_END, RESERVED));
        for (MemoryLayout.Range r : layout.ranges()) {
            addIntersection(map, r, LOW_RESERVED_END, EBDA_START);
        }
        map.add(new E820Entry(EBDA_START, HIGH_MEMORY - EBDA_START, RESERVED));
        for (MemoryLayout.Range r : layout.ranges()) {
            addIntersection(map, r, HIGH_MEMORY, Long.MAX_VALUE);
        }
        return List.copyOf(map);
    }

    private static void addIntersection(List<E820Entry> map, MemoryLayout.Range r, long from, long to) {
        long start = Math.max(r.guestPhysAddr(), from);
        long end = Math.min(r.end(), to);
        if (end <= start) {
            return;
        }
        E820Entry last = map.getLast();
        if (last.type() == RAM && last.end() == start) {
            // Adjacent layout ranges make one RAM entry, as a firmware would report them.
            map.set(map.size() - 1, new E820Entry(last.addr(), end - last.addr(), RAM));
        } else {
            map.add(new E820Entry(start, end - start, RAM));
        }
    }
}
