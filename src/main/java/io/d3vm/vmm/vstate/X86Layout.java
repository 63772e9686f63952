package io.d3vm.vmm.vstate;

import io.d3vm.memory.MemoryLayout;

/**
 * Where a PC's RAM goes in guest-physical space: below 3 GiB, and what does not fit above 4 GiB,
 * leaving the 3-4 GiB hole for the LAPIC (0xfee00000), the IOAPIC (0xfec00000) and the pages KVM
 * needs for Intel's real-mode support (TSS at {@link #TSS_ADDR}, identity map at
 * {@link #IDENTITY_MAP_ADDR}, both just below the 4 GiB BIOS area as in QEMU/Firecracker).
 */
public final class X86Layout {
    public static final long LOW_RAM_END = 3L << 30;
    public static final long HIGH_RAM_START = 4L << 30;
    public static final long TSS_ADDR = 0xfffb_d000L;
    public static final long IDENTITY_MAP_ADDR = 0xfffb_c000L;
    /** The largest guest d3vm builds (the address space a 2-region layout can cover here). */
    public static final long MAX_MEMORY = 1L << 40;

    private X86Layout() {}

    /** The layout of a guest with {@code memBytes} of RAM (a positive multiple of 4 KiB). */
    public static MemoryLayout forMemory(long memBytes) {
        if (memBytes <= 0 || (memBytes & 0xfff) != 0 || memBytes > MAX_MEMORY) {
            throw new IllegalArgumentException("guest memory must be a positive multiple of 4 KiB up to 1 TiB, got " + memBytes);
        }
        if (memBytes <= LOW_RAM_END) {
            return MemoryLayout.flat(memBytes);
        }
        return MemoryLayout.of(0, LOW_RAM_END, HIGH_RAM_START, memBytes - LOW_RAM_END);
    }
}
