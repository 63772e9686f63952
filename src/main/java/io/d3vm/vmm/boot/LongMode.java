package io.d3vm.vmm.boot;

import io.d3vm.memory.GuestMemory;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * Writes the tables a vCPU needs to start directly in 64-bit long mode: a GDT and identity-mapped
 * page tables with 2 MiB pages covering the first {@link #IDENTITY_MAPPED} bytes. Both the Linux
 * loader (boot protocol: 64-bit entry with {@code __BOOT_CS} = 0x10, {@code __BOOT_DS} = 0x18) and
 * the test-guest loader use it.
 *
 * <p>Low-memory map (all below the 1 MiB mark, away from where kernels and the test guest load):
 * <pre>
 *   0x0500  GDT (5 entries: null, null, code64 0x10, data 0x18, TSS 0x20 (16 bytes))
 *   0x9000  PML4
 *   0xA000  PDPT
 *   0xB000  4 page directories (0xB000..0xEFFF), 2 MiB pages, 4 GiB identity map
 * </pre>
 */
public final class LongMode {
    public static final long GDT_ADDR = 0x500;
    public static final long PML4_ADDR = 0x9000;
    public static final long PDPT_ADDR = 0xA000;
    public static final long PD_ADDR = 0xB000;
    public static final long IDENTITY_MAPPED = 4L << 30;

    public static final int CODE_SELECTOR = 0x10;
    public static final int DATA_SELECTOR = 0x18;
    public static final int TSS_SELECTOR = 0x20;

    /** Flat 64-bit code: present, DPL 0, code exec/read, L=1, G=1. */
    static final long GDT_CODE64 = 0x00AF9B000000FFFFL;
    /** Flat data: present, DPL 0, read/write, D/B=1, G=1. */
    static final long GDT_DATA = 0x00CF93000000FFFFL;
    /** 64-bit TSS (available), base 0, limit 0x67: low 8 bytes; the high 8 bytes are zero. */
    static final long GDT_TSS_LOW = 0x0000890000000067L;

    private static final long PTE_PRESENT = 1, PTE_WRITE = 2, PTE_HUGE = 0x80;

    private LongMode() {}

    /**
     * Writes GDT and page tables into {@code memory} (which must cover the first 64 KiB) and
     * returns the CPU state to enter at {@code entry}.
     */
    public static BootCpuState setUp(GuestMemory memory, long entry) {
        MemorySegment gdt = memory.slice(GDT_ADDR, 6 * 8);
        gdt.fill((byte) 0);
        gdt.set(JAVA_LONG_UNALIGNED, 2 * 8, GDT_CODE64);
        gdt.set(JAVA_LONG_UNALIGNED, 3 * 8, GDT_DATA);
        gdt.set(JAVA_LONG_UNALIGNED, 4 * 8, GDT_TSS_LOW);

        MemorySegment pml4 = memory.slice(PML4_ADDR, 4096);
        pml4.fill((byte) 0);
        pml4.set(JAVA_LONG_UNALIGNED, 0, PDPT_ADDR | PTE_PRESENT | PTE_WRITE);

        MemorySegment pdpt = memory.slice(PDPT_ADDR, 4096);
        pdpt.fill((byte) 0);
        int directories = (int) (IDENTITY_MAPPED >>> 30);
        for (int d = 0; d < directories; d++) {
            long pdAddr = PD_ADDR + d * 4096L;
            pdpt.set(JAVA_LONG_UNALIGNED, d * 8L, pdAddr | PTE_PRESENT | PTE_WRITE);
            MemorySegment pd = memory.slice(pdAddr, 4096);
            for (int i = 0; i < 512; i++) {
                long phys = ((long) d << 30) | ((long) i << 21);
                pd.set(JAVA_LONG_UNALIGNED, i * 8L, phys | PTE_PRESENT | PTE_WRITE | PTE_HUGE);
            }
        }
        return new BootCpuState(entry, 0, 0, 0, PML4_ADDR, GDT_ADDR, 6 * 8 - 1,
                CODE_SELECTOR, DATA_SELECTOR, TSS_SELECTOR);
    }
}
