package io.d3vm.vmm.vstate;

import io.d3vm.kvm.Kvm;

import java.io.OutputStream;

/**
 * Compiles the vCPU/VM state path (every KVM_GET_* and KVM_SET_* call, the struct layouts and
 * {@link StateCodec}) before a migration's pause needs it: their first calls in a process link the
 * native downcalls and run interpreted, inside the downtime. In {@code ./d3vm bench} runs of the
 * 1 GiB test guest before this existed, {@code state-save} took 5–19 ms and the destination's
 * {@code state-restore} 6–16 ms; with it, medians of about 1 and 1–2.5 ms (docs/BENCHMARKS.md). So
 * {@code receive} (before it listens) and {@code run --api-socket} (while its guest boots) save the
 * state of a small never-started VM and restore it into another, a number of times.
 */
public final class StateWarmup {
    private static final int ROUNDS = 40;

    private StateWarmup() {}

    public static void run(Kvm kvm) {
        VmConfig config = new VmConfig(X86Layout.forMemory(32L << 20), 1, OutputStream.nullOutputStream(), "test:warm-up");
        try (Vm a = Vm.create(kvm, config); Vm b = Vm.create(kvm, config)) {
            for (int i = 0; i < ROUNDS; i++) {
                b.restoreState(a.saveState());
            }
        }
    }
}
