package io.d3vm.vmm.vstate;

import io.d3vm.kvm.CpuidEntry;

import java.util.ArrayList;
import java.util.List;

/**
 * The CPU a d3vm guest sees: {@code KVM_GET_SUPPORTED_CPUID} minus the features this project's
 * hosts cannot run in a guest kernel, plus per-vCPU topology. Applied by the VM to every vCPU
 * before it first runs; the destination of a migration takes the source's table from the saved
 * state instead, so a guest never sees its CPU change.
 *
 * <p>The "baseline" profile hides (see docs/VMM.md and HOST-KVM.md for why):
 * <ul>
 *   <li>leaf 1 ECX: MONITOR (3), VMX (5), FMA (12), CX16 (13, {@code cmpxchg16b} fails in
 *       kvm_pvm's emulator), POPCNT (23), XSAVE (26), OSXSAVE (27), AVX (28), F16C (29);
 *       and sets HYPERVISOR (31)</li>
 *   <li>leaf 7.0: AVX2, the AVX-512 families, PKU/OSPKE, VAES/VPCLMULQDQ, AMX; leaf 0xD is
 *       zeroed (no XSAVE state components)</li>
 *   <li>leaf 0x80000001 ECX: ABM/LZCNT (5), SSE4A (6), XOP (11), FMA4 (16), TBM (21)</li>
 * </ul>
 * kvm_pvm honours CPUID bits only partly: a guest that executes a hidden instruction anyway still
 * reaches the emulator and may stop with an emulation failure. Hiding is what a guest that asks
 * CPUID (Linux, glibc) needs; the test guest is compiled not to use any of them.
 *
 * <p>Per vCPU: initial APIC ID (leaf 1 EBX[31:24]), logical processor count (EBX[23:16], HTT in
 * EDX bit 28 when more than one), and the x2APIC ID of leaves 0xB and 0x1F (EDX).
 */
public final class CpuProfile {
    private static final int L1_ECX_HIDE = bit(3) | bit(5) | bit(12) | bit(13) | bit(23) | bit(26) | bit(27) | bit(28) | bit(29);
    private static final int L1_ECX_HYPERVISOR = bit(31);
    private static final int L1_EDX_HTT = bit(28);
    private static final int L7_EBX_HIDE = bit(5) | bit(16) | bit(17) | bit(21) | bit(26) | bit(27) | bit(28) | bit(30) | bit(31);
    private static final int L7_ECX_HIDE = bit(1) | bit(3) | bit(4) | bit(6) | bit(9) | bit(10) | bit(11) | bit(12) | bit(14);
    private static final int L7_EDX_HIDE = bit(2) | bit(3) | bit(8) | bit(22) | bit(23) | bit(24) | bit(25);
    private static final int L80000001_ECX_HIDE = bit(5) | bit(6) | bit(11) | bit(16) | bit(21);

    private CpuProfile() {}

    private static int bit(int n) {
        return 1 << n;
    }

    /** The baseline table shared by all vCPUs, from what KVM supports. */
    public static List<CpuidEntry> baseline(List<CpuidEntry> supported) {
        List<CpuidEntry> out = new ArrayList<>(supported.size());
        for (CpuidEntry e : supported) {
            out.add(switch (e.function()) {
                case 0x1 -> e.withRegisters(e.eax(), e.ebx(), (e.ecx() & ~L1_ECX_HIDE) | L1_ECX_HYPERVISOR, e.edx());
                case 0x7 -> e.index() == 0
                        ? e.withRegisters(e.eax(), e.ebx() & ~L7_EBX_HIDE, e.ecx() & ~L7_ECX_HIDE, e.edx() & ~L7_EDX_HIDE)
                        : e.withRegisters(0, 0, 0, 0);
                case 0xd -> e.withRegisters(0, 0, 0, 0);
                case 0x80000001 -> e.withRegisters(e.eax(), e.ebx(), e.ecx() & ~L80000001_ECX_HIDE, e.edx());
                default -> e;
            });
        }
        return out;
    }

    /** The table for vCPU {@code id} of {@code count}: {@code baseline} with its topology filled in. */
    public static List<CpuidEntry> forVcpu(List<CpuidEntry> baseline, int id, int count) {
        List<CpuidEntry> out = new ArrayList<>(baseline.size());
        for (CpuidEntry e : baseline) {
            out.add(switch (e.function()) {
                case 0x1 -> {
                    int ebx = (e.ebx() & 0x0000ffff) | (id << 24) | (Math.min(count, 255) << 16);
                    int edx = count > 1 ? e.edx() | L1_EDX_HTT : e.edx() & ~L1_EDX_HTT;
                    yield e.withRegisters(e.eax(), ebx, e.ecx(), edx);
                }
                case 0xb, 0x1f -> e.withRegisters(e.eax(), e.ebx(), e.ecx(), id);
                default -> e;
            });
        }
        return out;
    }
}
