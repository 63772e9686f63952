package io.d3vm.kvm;

import java.util.Arrays;

/**
 * {@code struct kvm_sregs}: segment registers, descriptor tables, control registers, EFER, the
 * APIC base MSR and the pending-interrupt bitmap (256 bits as 4 words). Immutable (the bitmap is
 * copied in and out).
 */
public record Sregs(Segment cs, Segment ds, Segment es, Segment fs, Segment gs, Segment ss, Segment tr, Segment ldt,
                    DTable gdt, DTable idt, long cr0, long cr2, long cr3, long cr4, long cr8, long efer,
                    long apicBase, long[] interruptBitmap) {

    public Sregs {
        if (interruptBitmap.length != 4) {
            throw new IllegalArgumentException("interrupt_bitmap has 4 words, got " + interruptBitmap.length);
        }
        interruptBitmap = interruptBitmap.clone();
    }

    @Override
    public long[] interruptBitmap() {
        return interruptBitmap.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Sregs x && cs.equals(x.cs) && ds.equals(x.ds) && es.equals(x.es) && fs.equals(x.fs)
                && gs.equals(x.gs) && ss.equals(x.ss) && tr.equals(x.tr) && ldt.equals(x.ldt)
                && gdt.equals(x.gdt) && idt.equals(x.idt) && cr0 == x.cr0 && cr2 == x.cr2 && cr3 == x.cr3
                && cr4 == x.cr4 && cr8 == x.cr8 && efer == x.efer && apicBase == x.apicBase
                && Arrays.equals(interruptBitmap, x.interruptBitmap);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(interruptBitmap) * 31 + Long.hashCode(cr3 ^ cr0 ^ efer ^ apicBase) + cs.hashCode();
    }

    @Override
    public String toString() {
        return "Sregs[cs=" + cs + ", ss=" + ss + ", tr=" + tr + ", gdt=" + gdt + ", idt=" + idt
                + String.format(", cr0=%#x, cr2=%#x, cr3=%#x, cr4=%#x, cr8=%#x, efer=%#x, apicBase=%#x]",
                cr0, cr2, cr3, cr4, cr8, efer, apicBase);
    }
}
