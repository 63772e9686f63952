package io.d3vm.vmm.vstate;

import io.d3vm.kvm.Cap;
import io.d3vm.kvm.CpuidEntry;
import io.d3vm.kvm.Kvm;
import io.d3vm.kvm.VmFd;
import io.d3vm.vmm.devices.IoBus;

import java.util.ArrayList;
import java.util.List;

/**
 * The part of a VM that does not depend on its memory: the KVM VM with its TSS and identity-map
 * addresses, the in-kernel irqchip and PIT, and the vCPUs (threads started, CPUID and LAPIC pins
 * set), all paused. {@code receive} prepares one before a source connects, so a migration's setup
 * pays only for its memory slots ({@link Vm#attach}); {@link Vm#create} prepares one on the spot.
 *
 * <p>A shell is used once: attached to a VM, or closed.
 */
public final class VmShell implements AutoCloseable {
    final Kvm kvm;
    final VmFd vmFd;
    final List<Vcpu> vcpus = new ArrayList<>();
    final List<CpuidEntry> baselineCpuid;
    final ForwardingHost host = new ForwardingHost();
    private boolean used;

    private VmShell(Kvm kvm, VmFd vmFd) {
        this.kvm = kvm;
        this.vmFd = vmFd;
        this.baselineCpuid = CpuProfile.baseline(kvm.supportedCpuid());
    }

    /** A paused VM of {@code vcpus} vCPUs, no memory yet. */
    public static VmShell prepare(Kvm kvm, int vcpus) {
        if (vcpus < 1 || vcpus > VmConfig.MAX_VCPUS) {
            throw new IllegalArgumentException("vCPU count must be 1.." + VmConfig.MAX_VCPUS + ", got " + vcpus);
        }
        requireCapabilities(kvm);
        VmFd vmFd = kvm.createVm();
        VmShell shell = null;
        try {
            // Both addresses must be set before the first vCPU exists (KVM rejects them after).
            vmFd.setTssAddr(X86Layout.TSS_ADDR);
            vmFd.setIdentityMapAddr(X86Layout.IDENTITY_MAP_ADDR);
            // The irqchip must exist before vCPUs (they get their LAPIC from it), the PIT after it.
            vmFd.createIrqchip();
            vmFd.createPit2(VmFd.PIT_SPEAKER_DUMMY);
            shell = new VmShell(kvm, vmFd);
            for (int i = 0; i < vcpus; i++) {
                Vcpu v = new Vcpu(i, vmFd, shell.host);
                shell.vcpus.add(v);
                v.start();
                List<CpuidEntry> cpuid = CpuProfile.forVcpu(shell.baselineCpuid, i, vcpus);
                v.call(fd -> {
                    fd.setCpuid2(cpuid);
                    BootVcpu.setLocalInterruptPins(fd);
                    return null;
                });
            }
            return shell;
        } catch (RuntimeException e) {
            if (shell != null) {
                shell.close();
            } else {
                vmFd.close();
            }
            throw e;
        }
    }

    public int vcpuCount() {
        return vcpus.size();
    }

    /** Hands the shell to the VM being built; a shell is attached once. */
    synchronized void claim() {
        if (used) {
            throw new IllegalStateException("this VM shell was already used");
        }
        used = true;
    }

    /** Ends an unused shell (its vCPU threads and VM fd). */
    @Override
    public synchronized void close() {
        if (used) {
            return;
        }
        used = true;
        for (Vcpu v : vcpus) {
            v.requestStop();
        }
        for (Vcpu v : vcpus) {
            v.join();
        }
        vmFd.close();
    }

    static void requireCapabilities(Kvm kvm) {
        int[] needed = {Cap.IRQCHIP, Cap.USER_MEMORY, Cap.SET_TSS_ADDR, Cap.SET_IDENTITY_MAP_ADDR, Cap.PIT2,
                Cap.IMMEDIATE_EXIT, Cap.EXT_CPUID, Cap.MP_STATE, Cap.VCPU_EVENTS, Cap.DEBUGREGS};
        String[] names = {"KVM_CAP_IRQCHIP", "KVM_CAP_USER_MEMORY", "KVM_CAP_SET_TSS_ADDR",
                "KVM_CAP_SET_IDENTITY_MAP_ADDR", "KVM_CAP_PIT2", "KVM_CAP_IMMEDIATE_EXIT", "KVM_CAP_EXT_CPUID",
                "KVM_CAP_MP_STATE", "KVM_CAP_VCPU_EVENTS", "KVM_CAP_DEBUGREGS"};
        for (int i = 0; i < needed.length; i++) {
            if (kvm.checkExtension(needed[i]) <= 0) {
                throw new IllegalStateException(kvm.path() + " lacks " + names[i] + ", which d3vm needs");
            }
        }
    }

    /**
     * The vCPU threads exist before their VM does: they reach it through this, set once at attach.
     * They stay paused until then, so nothing calls it earlier.
     */
    static final class ForwardingHost implements Vcpu.Host {
        private volatile Vcpu.Host target;

        void attach(Vcpu.Host t) {
            target = t;
        }

        private Vcpu.Host target() {
            Vcpu.Host t = target;
            if (t == null) {
                throw new IllegalStateException("vCPU ran before its VM was attached");
            }
            return t;
        }

        @Override public IoBus ioBus() { return target().ioBus(); }
        @Override public void fail(String message) { target().fail(message); }
        @Override public void powerOff(String source) { target().powerOff(source); }
        @Override public void reset(String source) { target().reset(source); }
    }
}
