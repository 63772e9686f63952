package io.d3vm.vmm.vstate;

import io.d3vm.kvm.Blob;
import io.d3vm.kvm.DTable;
import io.d3vm.kvm.LapicState;
import io.d3vm.kvm.Regs;
import io.d3vm.kvm.Segment;
import io.d3vm.kvm.Sregs;
import io.d3vm.kvm.VcpuFd;
import io.d3vm.vmm.boot.BootCpuState;
import io.d3vm.vmm.boot.BootEntry;

/** The register state a fresh vCPU gets before its first run: what firmware would have left. */
final class BootVcpu {
    private BootVcpu() {
    }

    /**
     * Puts the vCPU in 64-bit long mode at {@code boot}: the GDT and page tables must already be in
     * memory ({@code LongMode.setUp}). {@code rax} is the extra boot argument (the Multiboot magic
     * for the test guest, 0 for Linux).
     */
    static void enterLongMode(VcpuFd fd, BootCpuState boot, long rax) {
        Sregs cur = fd.getSregs();
        // Flat segments from the GDT LongMode wrote: the cached descriptors must match it.
        Segment code = new Segment(0, 0xffffffff, boot.codeSelector(), 0xb, 1, 0, 0, 1, 1, 1, 0, 0);
        Segment data = new Segment(0, 0xffffffff, boot.dataSelector(), 0x3, 1, 0, 1, 1, 0, 1, 0, 0);
        // TR must be a busy 64-bit TSS (type 11) for VM entry in long mode.
        Segment tr = new Segment(0, 0x67, boot.tssSelector(), 0xb, 1, 0, 0, 0, 0, 0, 0, 0);
        Segment ldt = new Segment(0, 0xffff, 0, 0x2, 1, 0, 0, 0, 0, 0, 0, 0);
        Sregs s = new Sregs(code, data, data, data, data, data, tr, ldt,
                new DTable(boot.gdtBase(), boot.gdtLimit()), new DTable(0, 0),
                BootCpuState.CR0, 0, boot.cr3(), BootCpuState.CR4, 0, BootCpuState.EFER,
                cur.apicBase(), new long[4]);
        fd.setSregs(s);
        // RFLAGS 0x2: only the reserved bit, interrupts off (the contract's entry state).
        fd.setRegs(new Regs(rax, 0, 0, 0, boot.rsi(), boot.rdi(), boot.rsp(), 0, 0, 0, 0, 0, 0, 0, 0, 0,
                boot.rip(), 0x2));
    }

    /**
     * Puts the vCPU in 32-bit protected mode as Multiboot leaves it: flat code and data segments
     * (cached descriptors matching the GDT the loader wrote), paging off, EFLAGS with only the
     * reserved bit (interrupts off), EAX and EBX the boot arguments. TR is a busy 32-bit TSS, as
     * VM entry requires a usable one. A20 needs nothing: KVM has no A20 gate.
     */
    static void enterProtectedMode(VcpuFd fd, BootEntry.Protected32 p) {
        Sregs cur = fd.getSregs();
        Segment code = new Segment(0, 0xffffffff, BootEntry.Protected32.CODE_SELECTOR, 0xb, 1, 0, 1, 1, 0, 1, 0, 0);
        Segment data = new Segment(0, 0xffffffff, BootEntry.Protected32.DATA_SELECTOR, 0x3, 1, 0, 1, 1, 0, 1, 0, 0);
        Segment tr = new Segment(0, 0x67, BootEntry.Protected32.TSS_SELECTOR, 0xb, 1, 0, 0, 0, 0, 0, 0, 0);
        Segment ldt = new Segment(0, 0xffff, 0, 0x2, 1, 0, 0, 0, 0, 0, 0, 0);
        fd.setSregs(new Sregs(code, data, data, data, data, data, tr, ldt, new DTable(p.gdtBase(), p.gdtLimit()), new DTable(0, 0),
                PROTECTED_CR0, 0, 0, 0, 0, 0, cur.apicBase(), new long[4]));
        fd.setRegs(new Regs(p.eax(), p.ebx(), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, p.eip(), 0x2));
    }

    /** CR0 for a Multiboot entry: protection enabled and extension type; no paging. */
    static final long PROTECTED_CR0 = 0x1L | 0x10L;

    /**
     * Puts the LAPIC's LINT0 in ExtINT and LINT1 in NMI delivery mode, unmasked: the "virtual
     * wire" mode a PC BIOS leaves, through which the 8259 PIC (and so the PIT's IRQ 0) reaches
     * the boot CPU. Without it a guest that never programs its LAPIC gets no timer interrupt.
     */
    static void setLocalInterruptPins(VcpuFd fd) {
        final int lvt0 = 0x350, lvt1 = 0x360, masked = 1 << 16, modeMask = 0x700, extInt = 0x700, nmi = 0x400;
        byte[] regs = fd.getLapic().regs().toArray();
        int v0 = readInt(regs, lvt0);
        int v1 = readInt(regs, lvt1);
        writeInt(regs, lvt0, (v0 & ~(modeMask | masked)) | extInt);
        writeInt(regs, lvt1, (v1 & ~(modeMask | masked)) | nmi);
        fd.setLapic(new LapicState(new Blob(regs)));
    }

    private static int readInt(byte[] b, int off) {
        return (b[off] & 0xff) | (b[off + 1] & 0xff) << 8 | (b[off + 2] & 0xff) << 16 | (b[off + 3] & 0xff) << 24;
    }

    private static void writeInt(byte[] b, int off, int v) {
        b[off] = (byte) v;
        b[off + 1] = (byte) (v >>> 8);
        b[off + 2] = (byte) (v >>> 16);
        b[off + 3] = (byte) (v >>> 24);
    }
}
