package io.d3vm.vmm.persist;

import io.d3vm.kvm.CpuidEntry;
import io.d3vm.kvm.DebugRegs;
import io.d3vm.kvm.Fpu;
import io.d3vm.kvm.LapicState;
import io.d3vm.kvm.MsrEntry;
import io.d3vm.kvm.Regs;
import io.d3vm.kvm.Sregs;
import io.d3vm.kvm.VcpuEvents;
import io.d3vm.kvm.Xcrs;
import io.d3vm.kvm.Xsave;

import java.util.List;

/**
 * Saved state of one vCPU of a paused VM: what {@link Vm#saveState()} reads from KVM and
 * {@link Vm#restoreState} writes back. Immutable, no behaviour; {@link StateCodec} puts it on the
 * wire. Exactly one of {@code xsave} (hosts with {@code KVM_CAP_XSAVE}) and {@code fpu} is set;
 * {@code xcrs} is null without {@code KVM_CAP_XCRS}; {@code tscKhz} is 0 when KVM could not say.
 */
public record VcpuState(int id, int mpState, Regs regs, Sregs sregs, Xsave xsave, Fpu fpu, Xcrs xcrs,
                        DebugRegs debugRegs, LapicState lapic, List<MsrEntry> msrs, VcpuEvents events,
                        List<CpuidEntry> cpuid, int tscKhz) {
    public VcpuState {
        msrs = List.copyOf(msrs);
        cpuid = List.copyOf(cpuid);
        if ((xsave == null) == (fpu == null)) {
            throw new IllegalArgumentException("vCPU state needs exactly one of xsave and fpu");
        }
        java.util.Objects.requireNonNull(regs, "regs");
        java.util.Objects.requireNonNull(sregs, "sregs");
        java.util.Objects.requireNonNull(debugRegs, "debugRegs");
        java.util.Objects.requireNonNull(lapic, "lapic");
        java.util.Objects.requireNonNull(events, "events");
    }
}
