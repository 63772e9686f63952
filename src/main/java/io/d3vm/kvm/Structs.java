package io.d3vm.kvm;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

/**
 * Sizes and field offsets of the KVM structs (x86-64, from {@code linux/kvm.h} and
 * {@code asm/kvm.h}; checked against a C program's {@code sizeof}/{@code offsetof} in
 * {@code StructsTest}), and the code that moves them between native buffers and the records.
 */
final class Structs {
    private Structs() {}

    static final int USER_MEMORY_REGION_SIZE = 32;
    static final int REGS_SIZE = 144;
    static final int SEGMENT_SIZE = 24;
    static final int DTABLE_SIZE = 16;
    static final int SREGS_SIZE = 312;
    static final int FPU_SIZE = 416;
    static final int XSAVE_SIZE = 4096;
    static final int XCRS_SIZE = 392;
    static final int DEBUGREGS_SIZE = 128;
    static final int LAPIC_SIZE = 1024;
    static final int MSRS_HEADER = 8;
    static final int MSR_ENTRY_SIZE = 16;
    static final int MSR_LIST_HEADER = 4;
    static final int VCPU_EVENTS_SIZE = 64;
    static final int CPUID2_HEADER = 8;
    static final int CPUID_ENTRY2_SIZE = 40;
    static final int IRQCHIP_SIZE = 520;
    static final int IRQCHIP_DATA_OFFSET = 8;
    static final int IRQCHIP_DATA_SIZE = 512;
    static final int PIT_STATE2_SIZE = 112;
    static final int PIT_CHANNEL_SIZE = 24;
    static final int PIT_FLAGS_OFFSET = 72;
    static final int PIT_CONFIG_SIZE = 64;
    static final int CLOCK_DATA_SIZE = 48;
    static final int DIRTY_LOG_SIZE = 16;
    static final int IRQ_LEVEL_SIZE = 8;

    // kvm_sregs field offsets.
    static final int SREGS_GDT = 8 * SEGMENT_SIZE;
    static final int SREGS_IDT = SREGS_GDT + DTABLE_SIZE;
    static final int SREGS_CR0 = SREGS_IDT + DTABLE_SIZE;
    static final int SREGS_EFER = SREGS_CR0 + 5 * 8;
    static final int SREGS_APIC_BASE = SREGS_EFER + 8;
    static final int SREGS_INTERRUPT_BITMAP = SREGS_APIC_BASE + 8;

    static Regs readRegs(MemorySegment m) {
        long[] v = new long[18];
        for (int i = 0; i < 18; i++) {
            v[i] = m.get(JAVA_LONG_UNALIGNED, i * 8L);
        }
        return Regs.fromArray(v);
    }

    static void writeRegs(MemorySegment m, Regs r) {
        long[] v = r.toArray();
        for (int i = 0; i < 18; i++) {
            m.set(JAVA_LONG_UNALIGNED, i * 8L, v[i]);
        }
    }

    static Segment readSegment(MemorySegment m, long off) {
        return new Segment(m.get(JAVA_LONG_UNALIGNED, off), m.get(JAVA_INT_UNALIGNED, off + 8),
                m.get(JAVA_SHORT_UNALIGNED, off + 12) & 0xffff,
                u8(m, off + 14), u8(m, off + 15), u8(m, off + 16), u8(m, off + 17), u8(m, off + 18),
                u8(m, off + 19), u8(m, off + 20), u8(m, off + 21), u8(m, off + 22));
    }

    static void writeSegment(MemorySegment m, long off, Segment s) {
        m.set(JAVA_LONG_UNALIGNED, off, s.base());
        m.set(JAVA_INT_UNALIGNED, off + 8, s.limit());
        m.set(JAVA_SHORT_UNALIGNED, off + 12, (short) s.selector());
        m.set(JAVA_BYTE, off + 14, (byte) s.type());
        m.set(JAVA_BYTE, off + 15, (byte) s.present());
        m.set(JAVA_BYTE, off + 16, (byte) s.dpl());
        m.set(JAVA_BYTE, off + 17, (byte) s.db());
        m.set(JAVA_BYTE, off + 18, (byte) s.s());
        m.set(JAVA_BYTE, off + 19, (byte) s.l());
        m.set(JAVA_BYTE, off + 20, (byte) s.g());
        m.set(JAVA_BYTE, off + 21, (byte) s.avl());
        m.set(JAVA_BYTE, off + 22, (byte) s.unusable());
        m.set(JAVA_BYTE, off + 23, (byte) 0);
    }

    static DTable readDTable(MemorySegment m, long off) {
        return new DTable(m.get(JAVA_LONG_UNALIGNED, off), m.get(JAVA_SHORT_UNALIGNED, off + 8) & 0xffff);
    }

    static void writeDTable(MemorySegment m, long off, DTable t) {
        m.set(JAVA_LONG_UNALIGNED, off, t.base());
        m.set(JAVA_SHORT_UNALIGNED, off + 8, (short) t.limit());
        m.asSlice(off + 10, 6).fill((byte) 0);
    }

    static Sregs readSregs(MemorySegment m) {
        Segment[] seg = new Segment[8];
        for (int i = 0; i < 8; i++) {
            seg[i] = readSegment(m, (long) i * SEGMENT_SIZE);
        }
        long[] cr = new long[5];
        for (int i = 0; i < 5; i++) {
            cr[i] = m.get(JAVA_LONG_UNALIGNED, SREGS_CR0 + i * 8L);
        }
        long[] bitmap = new long[4];
        for (int i = 0; i < 4; i++) {
            bitmap[i] = m.get(JAVA_LONG_UNALIGNED, SREGS_INTERRUPT_BITMAP + i * 8L);
        }
        return new Sregs(seg[0], seg[1], seg[2], seg[3], seg[4], seg[5], seg[6], seg[7],
                readDTable(m, SREGS_GDT), readDTable(m, SREGS_IDT), cr[0], cr[1], cr[2], cr[3], cr[4],
                m.get(JAVA_LONG_UNALIGNED, SREGS_EFER), m.get(JAVA_LONG_UNALIGNED, SREGS_APIC_BASE), bitmap);
    }

    static void writeSregs(MemorySegment m, Sregs s) {
        Segment[] seg = {s.cs(), s.ds(), s.es(), s.fs(), s.gs(), s.ss(), s.tr(), s.ldt()};
        for (int i = 0; i < 8; i++) {
            writeSegment(m, (long) i * SEGMENT_SIZE, seg[i]);
        }
        writeDTable(m, SREGS_GDT, s.gdt());
        writeDTable(m, SREGS_IDT, s.idt());
        long[] cr = {s.cr0(), s.cr2(), s.cr3(), s.cr4(), s.cr8()};
        for (int i = 0; i < 5; i++) {
            m.set(JAVA_LONG_UNALIGNED, SREGS_CR0 + i * 8L, cr[i]);
        }
        m.set(JAVA_LONG_UNALIGNED, SREGS_EFER, s.efer());
        m.set(JAVA_LONG_UNALIGNED, SREGS_APIC_BASE, s.apicBase());
        long[] bitmap = s.interruptBitmap();
        for (int i = 0; i < 4; i++) {
            m.set(JAVA_LONG_UNALIGNED, SREGS_INTERRUPT_BITMAP + i * 8L, bitmap[i]);
        }
    }

    static Xcrs readXcrs(MemorySegment m) {
        int n = m.get(JAVA_INT_UNALIGNED, 0);
        if (n < 0 || n > Xcrs.MAX) {
            throw new IllegalStateException("KVM_GET_XCRS returned " + n + " registers (at most " + Xcrs.MAX + ")");
        }
        List<Xcr> list = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long off = 8 + i * 16L;
            list.add(new Xcr(m.get(JAVA_INT_UNALIGNED, off), m.get(JAVA_LONG_UNALIGNED, off + 8)));
        }
        return new Xcrs(list, m.get(JAVA_INT_UNALIGNED, 4));
    }

    static void writeXcrs(MemorySegment m, Xcrs x) {
        m.fill((byte) 0);
        m.set(JAVA_INT_UNALIGNED, 0, x.xcrs().size());
        m.set(JAVA_INT_UNALIGNED, 4, x.flags());
        for (int i = 0; i < x.xcrs().size(); i++) {
            long off = 8 + i * 16L;
            m.set(JAVA_INT_UNALIGNED, off, x.xcrs().get(i).xcr());
            m.set(JAVA_LONG_UNALIGNED, off + 8, x.xcrs().get(i).value());
        }
    }

    static DebugRegs readDebugRegs(MemorySegment m) {
        return new DebugRegs(m.get(JAVA_LONG_UNALIGNED, 0), m.get(JAVA_LONG_UNALIGNED, 8),
                m.get(JAVA_LONG_UNALIGNED, 16), m.get(JAVA_LONG_UNALIGNED, 24), m.get(JAVA_LONG_UNALIGNED, 32),
                m.get(JAVA_LONG_UNALIGNED, 40), m.get(JAVA_LONG_UNALIGNED, 48));
    }

    static void writeDebugRegs(MemorySegment m, DebugRegs d) {
        m.fill((byte) 0);
        long[] v = {d.dr0(), d.dr1(), d.dr2(), d.dr3(), d.dr6(), d.dr7(), d.flags()};
        for (int i = 0; i < v.length; i++) {
            m.set(JAVA_LONG_UNALIGNED, i * 8L, v[i]);
        }
    }

    static CpuidEntry readCpuidEntry(MemorySegment m, long off) {
        return new CpuidEntry(m.get(JAVA_INT_UNALIGNED, off), m.get(JAVA_INT_UNALIGNED, off + 4),
                m.get(JAVA_INT_UNALIGNED, off + 8), m.get(JAVA_INT_UNALIGNED, off + 12),
                m.get(JAVA_INT_UNALIGNED, off + 16), m.get(JAVA_INT_UNALIGNED, off + 20),
                m.get(JAVA_INT_UNALIGNED, off + 24));
    }

    static void writeCpuidEntry(MemorySegment m, long off, CpuidEntry e) {
        m.asSlice(off, CPUID_ENTRY2_SIZE).fill((byte) 0);
        m.set(JAVA_INT_UNALIGNED, off, e.function());
        m.set(JAVA_INT_UNALIGNED, off + 4, e.index());
        m.set(JAVA_INT_UNALIGNED, off + 8, e.flags());
        m.set(JAVA_INT_UNALIGNED, off + 12, e.eax());
        m.set(JAVA_INT_UNALIGNED, off + 16, e.ebx());
        m.set(JAVA_INT_UNALIGNED, off + 20, e.ecx());
        m.set(JAVA_INT_UNALIGNED, off + 24, e.edx());
    }

    static List<CpuidEntry> readCpuid2(MemorySegment m, int capacity) {
        int n = m.get(JAVA_INT_UNALIGNED, 0);
        if (n < 0 || n > capacity) {
            throw new IllegalStateException("kvm_cpuid2.nent " + n + " exceeds the buffer of " + capacity);
        }
        List<CpuidEntry> list = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            list.add(readCpuidEntry(m, CPUID2_HEADER + (long) i * CPUID_ENTRY2_SIZE));
        }
        return list;
    }

    static PitState2 readPit2(MemorySegment m) {
        List<PitChannel> ch = new ArrayList<>(3);
        for (int i = 0; i < 3; i++) {
            long o = (long) i * PIT_CHANNEL_SIZE;
            ch.add(new PitChannel(m.get(JAVA_INT_UNALIGNED, o), m.get(JAVA_SHORT_UNALIGNED, o + 4) & 0xffff,
                    u8(m, o + 6), u8(m, o + 7), u8(m, o + 8), u8(m, o + 9), u8(m, o + 10), u8(m, o + 11),
                    u8(m, o + 12), u8(m, o + 13), u8(m, o + 14), u8(m, o + 15), m.get(JAVA_LONG_UNALIGNED, o + 16)));
        }
        return new PitState2(ch, m.get(JAVA_INT_UNALIGNED, PIT_FLAGS_OFFSET));
    }

    static void writePit2(MemorySegment m, PitState2 p) {
        m.fill((byte) 0);
        for (int i = 0; i < 3; i++) {
            long o = (long) i * PIT_CHANNEL_SIZE;
            PitChannel c = p.channels().get(i);
            m.set(JAVA_INT_UNALIGNED, o, c.count());
            m.set(JAVA_SHORT_UNALIGNED, o + 4, (short) c.latchedCount());
            int[] bytes = {c.countLatched(), c.statusLatched(), c.status(), c.readState(), c.writeState(),
                    c.writeLatch(), c.rwMode(), c.mode(), c.bcd(), c.gate()};
            for (int b = 0; b < bytes.length; b++) {
                m.set(JAVA_BYTE, o + 6 + b, (byte) bytes[b]);
            }
            m.set(JAVA_LONG_UNALIGNED, o + 16, c.countLoadTime());
        }
        m.set(JAVA_INT_UNALIGNED, PIT_FLAGS_OFFSET, p.flags());
    }

    static ClockData readClock(MemorySegment m) {
        return new ClockData(m.get(JAVA_LONG_UNALIGNED, 0), m.get(JAVA_INT_UNALIGNED, 8),
                m.get(JAVA_LONG_UNALIGNED, 16), m.get(JAVA_LONG_UNALIGNED, 24));
    }

    static void writeClock(MemorySegment m, ClockData c) {
        m.fill((byte) 0);
        m.set(JAVA_LONG_UNALIGNED, 0, c.clock());
        m.set(JAVA_INT_UNALIGNED, 8, c.flags());
        m.set(JAVA_LONG_UNALIGNED, 16, c.realtime());
        m.set(JAVA_LONG_UNALIGNED, 24, c.hostTsc());
    }

    static Blob readBlob(MemorySegment m, long off, long len) {
        return new Blob(m.asSlice(off, len).toArray(JAVA_BYTE));
    }

    static void writeBlob(MemorySegment m, long off, Blob b) {
        MemorySegment.copy(b.toArray(), 0, m, JAVA_BYTE, off, b.length());
    }

    private static int u8(MemorySegment m, long off) {
        return m.get(JAVA_BYTE, off) & 0xff;
    }
}
