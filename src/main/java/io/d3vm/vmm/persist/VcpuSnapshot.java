package io.d3vm.vmm.persist;

import io.d3vm.kvm.Cap;
import io.d3vm.kvm.Kvm;
import io.d3vm.kvm.KvmException;
import io.d3vm.kvm.MsrEntry;
import io.d3vm.kvm.VcpuFd;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Reads and writes one vCPU's state in the orders KVM needs (learned from Firecracker's and QEMU's
 * save/restore paths; each order is explained where it is taken). What this host's KVM offers
 * (XSAVE size, XCRs, the MSR list, TSC scaling) is asked once, at construction. Call on the
 * vCPU's own thread, with the vCPU paused.
 */
public final class VcpuSnapshot {
    /** IA32_TSC and IA32_TSC_DEADLINE: the deadline only restores after the TSC (it is relative to it). */
    static final int MSR_IA32_TSC = 0x10;
    static final int MSR_IA32_TSC_DEADLINE = 0x6e0;
    /** Firecracker's tolerance: TSC calibrations of the same CPU model differ by less than this. */
    static final double TSC_KHZ_TOLERANCE = 250e-6;

    private final int xsaveSize;
    private final boolean hasXcrs;
    private final int[] msrIndexList;
    private final boolean canScaleTsc;

    public VcpuSnapshot(Kvm kvm) {
        this.xsaveSize = kvm.checkExtension(Cap.XSAVE) > 0 ? Math.max(4096, kvm.checkExtension(Cap.XSAVE2)) : 0;
        this.hasXcrs = kvm.checkExtension(Cap.XCRS) > 0;
        this.msrIndexList = orderMsrs(kvm.msrIndexList());
        this.canScaleTsc = kvm.checkExtension(Cap.TSC_CONTROL) > 0;
    }

    /** Whether a guest whose TSC ran at {@code savedKhz} needs scaling to run at {@code hereKhz}. */
    static boolean tscNeedsScaling(int savedKhz, int hereKhz) {
        if (savedKhz <= 0 || hereKhz <= 0) {
            return false; // one side could not tell: nothing to compare
        }
        return Math.abs((long) savedKhz - hereKhz) > Math.round(savedKhz * TSC_KHZ_TOLERANCE);
    }

    /** The MSRs to save, in an order that restores: TSC deadline after the TSC. */
    static int[] orderMsrs(int[] list) {
        int[] out = new int[list.length];
        int n = 0;
        boolean deadline = false;
        for (int m : list) {
            if (m == MSR_IA32_TSC_DEADLINE) {
                deadline = true;
            } else {
                out[n++] = m;
            }
        }
        if (deadline) {
            out[n++] = MSR_IA32_TSC_DEADLINE;
        }
        return Arrays.copyOf(out, n);
    }

    public VcpuState save(VcpuFd fd) {
        // KVM_GET_MP_STATE first: it runs kvm_apic_accept_events(), which may change vCPU and
        // LAPIC state that the later reads must see.
        int mp = fd.getMpState();
        var regs = fd.getRegs();
        // SREGS carries a pending interrupt (interrupt_bitmap), as VCPU_EVENTS does.
        var sregs = fd.getSregs();
        var xsave = xsaveSize > 0 ? fd.getXsave(xsaveSize) : null;
        var fpu = xsaveSize > 0 ? null : fd.getFpu();
        var xcrs = hasXcrs ? fd.getXcrs() : null;
        var debug = fd.getDebugRegs();
        // KVM_GET_LAPIC may update the LAPIC before returning it.
        var lapic = fd.getLapic();
        List<MsrEntry> msrs = readMsrs(fd);
        var cpuid = fd.getCpuid2();
        int tscKhz = tscKhz(fd);
        // VCPU_EVENTS last: the GETs above may change pending-event state.
        var events = fd.getVcpuEvents();
        return new VcpuState(fd.id(), mp, regs, sregs, xsave, fpu, xcrs, debug, lapic, msrs, events, cpuid, tscKhz);
    }

    /** The vCPU's TSC rate, or 0 where KVM cannot tell. */
    private static int tscKhz(VcpuFd fd) {
        try {
            return fd.getTscKhz();
        } catch (KvmException e) {
            return 0;
        }
    }

    /**
     * KVM_GET_MSRS stops at the first MSR it cannot read (some on the index list depend on CPUID
     * features the guest lacks); such an MSR has no state to carry, so it is left out and the rest
     * read on.
     */
    private List<MsrEntry> readMsrs(VcpuFd fd) {
        List<MsrEntry> out = new ArrayList<>();
        int[] rest = msrIndexList;
        while (rest.length > 0) {
            List<MsrEntry> got = fd.getMsrs(rest);
            out.addAll(got);
            int skip = got.size() + 1; // the one KVM refused
            rest = skip >= rest.length ? new int[0] : Arrays.copyOfRange(rest, skip, rest.length);
        }
        return out;
    }

    public void restore(VcpuFd fd, VcpuState v) {
        // The guest's TSC rate before anything TSC-relative (the TSC and TSC deadline MSRs).
        int hereKhz = tscKhz(fd);
        if (tscNeedsScaling(v.tscKhz(), hereKhz)) {
            if (!canScaleTsc) {
                throw new IllegalStateException(String.format("the guest's TSC ran at %d kHz, this host's at %d kHz, and"
                        + " KVM here cannot scale it (no KVM_CAP_TSC_CONTROL): migrate between hosts of one CPU model",
                        v.tscKhz(), hereKhz));
            }
            fd.setTscKhz(v.tscKhz());
        }
        // CPUID first: MSR and XSAVE restores check features against it, and SET_MP_STATE depends
        // on the vCPU being (or not being) the BSP, which CPUID-derived state decides.
        fd.setCpuid2(v.cpuid());
        fd.setMpState(v.mpState());
        // SET_REGS clears pending exceptions, so it comes before SET_VCPU_EVENTS, which restores them.
        fd.setRegs(v.regs());
        fd.setSregs(v.sregs());
        if (v.xsave() != null) {
            fd.setXsave(v.xsave());
        } else {
            fd.setFpu(v.fpu());
        }
        if (v.xcrs() != null) {
            fd.setXcrs(v.xcrs());
        }
        fd.setDebugRegs(v.debugRegs());
        // SET_LAPIC after SET_SREGS (which restores the APIC base MSR and may reset the LAPIC),
        // and before SET_MSRS (the TSC deadline MSR only restores into a configured LAPIC).
        fd.setLapic(v.lapic());
        // The list keeps IA32_TSC before IA32_TSC_DEADLINE (orderMsrs): the deadline is relative to it.
        int set = fd.setMsrs(v.msrs());
        if (set != v.msrs().size()) {
            throw new IllegalStateException(String.format("KVM_SET_MSRS on vCPU %d stopped at MSR 0x%x (%d of %d set)",
                    v.id(), v.msrs().get(set).index(), set, v.msrs().size()));
        }
        // VCPU_EVENTS last: pending exceptions, NMIs and interrupt shadow on top of everything else.
        fd.setVcpuEvents(v.events());
    }
}
