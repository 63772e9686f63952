package io.d3vm.vmm.boot.linux;

import io.d3vm.memory.GuestMemory;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

/**
 * Writes an Intel MultiProcessor Specification 1.4 table, which is how a guest without ACPI (d3vm
 * has none) learns its CPUs' APIC IDs, the I/O APIC, and how ISA interrupts reach it. Linux finds
 * the floating pointer by scanning the last KiB of base memory (0x9fc00), which the e820 map keeps
 * reserved. {@link LinuxLoader} writes it for every Linux boot, as Firecracker does.
 *
 * <pre>
 * 0x9fc00  floating pointer "_MP_" (16 bytes) -> config table
 * 0x9fc10  config table "PCMP" header (44 bytes), then entries:
 *          processor x vcpus (20 bytes each: APIC ID = vCPU index, vCPU 0 the bootstrap processor)
 *          bus 0 "ISA" (8), I/O APIC id = vcpus, 0xfec00000 (8),
 *          ISA IRQ i -> I/O APIC pin i for i in 0..15 (8 each: KVM's default GSI routing),
 *          local ExtINT -> LINT0 of the BSP, NMI -> LINT1 of every CPU (8 each)
 * </pre>
 */
public final class MpTable {
    public static final long ADDRESS = E820Entry.EBDA_START;
    /** 255 xAPIC IDs, one taken by the I/O APIC. */
    public static final int MAX_CPUS = 254;
    public static final long IOAPIC_ADDR = 0xfec00000L;
    public static final long LAPIC_ADDR = 0xfee00000L;
    static final int FLOATING_BYTES = 16, HEADER_BYTES = 44, CPU_BYTES = 20, ENTRY_BYTES = 8;
    static final int ISA_IRQS = 16;
    static final int TYPE_CPU = 0, TYPE_BUS = 1, TYPE_IOAPIC = 2, TYPE_INTSRC = 3, TYPE_LINTSRC = 4;
    static final int INT_TYPE_INT = 0, INT_TYPE_NMI = 1, INT_TYPE_EXTINT = 3;
    private static final int APIC_VERSION = 0x14, IOAPIC_VERSION = 0x11;
    /** Family 6 signature and the APIC + FPU feature bits: what Linux's mpparse expects of a CPU entry. */
    private static final int CPU_SIGNATURE = 0x600, CPU_FEATURES = 0x201;

    private MpTable() {}

    /** Bytes the table takes for {@code cpus} processors. */
    public static int size(int cpus) {
        return FLOATING_BYTES + HEADER_BYTES + cpus * CPU_BYTES + ENTRY_BYTES * (2 + ISA_IRQS + 2);
    }

    /** Writes the table for {@code cpus} vCPUs at {@link #ADDRESS}. */
    public static void write(GuestMemory memory, int cpus) {
        if (cpus < 1 || cpus > MAX_CPUS) {
            throw new LinuxBootException("a Linux guest can have 1 to " + MAX_CPUS + " vCPUs (xAPIC IDs), not " + cpus);
        }
        MemorySegment t = memory.slice(ADDRESS, size(cpus));
        t.fill((byte) 0);
        long configAddr = ADDRESS + FLOATING_BYTES;
        putAscii(t, 0, "_MP_");
        t.set(JAVA_INT_UNALIGNED, 4, (int) configAddr);
        t.set(JAVA_BYTE, 8, (byte) 1);  // length in 16-byte units
        t.set(JAVA_BYTE, 9, (byte) 4);  // spec revision 1.4
        // feature bytes 11..15 zero: a configuration table follows; no IMCR (virtual wire mode)
        t.set(JAVA_BYTE, 10, checksum(t.asSlice(0, FLOATING_BYTES)));

        MemorySegment c = t.asSlice(FLOATING_BYTES);
        long off = HEADER_BYTES;
        int ioapicId = cpus;
        for (int cpu = 0; cpu < cpus; cpu++) {
            c.set(JAVA_BYTE, off, (byte) TYPE_CPU);
            c.set(JAVA_BYTE, off + 1, (byte) cpu);
            c.set(JAVA_BYTE, off + 2, (byte) APIC_VERSION);
            c.set(JAVA_BYTE, off + 3, (byte) (cpu == 0 ? 0x3 : 0x1)); // enabled, bootstrap processor
            c.set(JAVA_INT_UNALIGNED, off + 4, CPU_SIGNATURE);
            c.set(JAVA_INT_UNALIGNED, off + 8, CPU_FEATURES);
            off += CPU_BYTES;
        }
        c.set(JAVA_BYTE, off, (byte) TYPE_BUS);
        c.set(JAVA_BYTE, off + 1, (byte) 0);
        putAscii(c, off + 2, "ISA   ");
        off += ENTRY_BYTES;
        c.set(JAVA_BYTE, off, (byte) TYPE_IOAPIC);
        c.set(JAVA_BYTE, off + 1, (byte) ioapicId);
        c.set(JAVA_BYTE, off + 2, (byte) IOAPIC_VERSION);
        c.set(JAVA_BYTE, off + 3, (byte) 1); // usable
        c.set(JAVA_INT_UNALIGNED, off + 4, (int) IOAPIC_ADDR);
        off += ENTRY_BYTES;
        // KVM's default routing sends GSI i to I/O APIC pin i (and the PIC), the PIT included on 0.
        for (int irq = 0; irq < ISA_IRQS; irq++) {
            off = interrupt(c, off, TYPE_INTSRC, INT_TYPE_INT, irq, ioapicId, irq);
        }
        off = interrupt(c, off, TYPE_LINTSRC, INT_TYPE_EXTINT, 0, 0, 0);
        off = interrupt(c, off, TYPE_LINTSRC, INT_TYPE_NMI, 0, 0xff, 1);

        putAscii(c, 0, "PCMP");
        c.set(JAVA_SHORT_UNALIGNED, 4, (short) off);
        c.set(JAVA_BYTE, 6, (byte) 4);
        putAscii(c, 8, "D3VM    ");
        putAscii(c, 16, "D3VM-LINUX  ");
        c.set(JAVA_SHORT_UNALIGNED, 34, (short) (cpus + 2 + ISA_IRQS + 2));
        c.set(JAVA_INT_UNALIGNED, 36, (int) LAPIC_ADDR);
        c.set(JAVA_BYTE, 7, checksum(c.asSlice(0, off)));
    }

    private static long interrupt(MemorySegment c, long off, int entryType, int intType, int srcIrq, int dst, int dstPin) {
        c.set(JAVA_BYTE, off, (byte) entryType);
        c.set(JAVA_BYTE, off + 1, (byte) intType);
        c.set(JAVA_SHORT_UNALIGNED, off + 2, (short) 0); // polarity and trigger: conform to the bus
        c.set(JAVA_BYTE, off + 4, (byte) 0);             // source bus: ISA
        c.set(JAVA_BYTE, off + 5, (byte) srcIrq);
        c.set(JAVA_BYTE, off + 6, (byte) dst);
        c.set(JAVA_BYTE, off + 7, (byte) dstPin);
        return off + ENTRY_BYTES;
    }

    /** The byte that makes {@code s} (whose checksum byte is still 0) sum to zero. */
    static byte checksum(MemorySegment s) {
        int sum = 0;
        for (long i = 0; i < s.byteSize(); i++) {
            sum += s.get(JAVA_BYTE, i);
        }
        return (byte) -sum;
    }

    private static void putAscii(MemorySegment s, long off, String text) {
        byte[] b = text.getBytes(StandardCharsets.US_ASCII);
        MemorySegment.copy(MemorySegment.ofArray(b), 0, s, off, b.length);
    }
}
