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
 *
 * <p>A received guest also runs its first instructions in a process whose vCPU loop never ran:
 * {@code KVM_RUN}'s downcall, exit decoding, the I/O bus and the devices, all cold. Its first
 * timer tick after GO came 15–25 ms late (timestamps at GO and at the first port-0xe9 write, added
 * while measuring with scripts/switchover.py; after the warm-up 0.05–2 ms). So the warm-up
 * also boots the built-in test guest's {@code poweroff} workload a few times (a boot line on the
 * serial port, the PIT, the debug port, a power-off: a few hundred exits of every common kind).
 */
public final class StateWarmup {
    private static final int ROUNDS = 40;

    private StateWarmup() {}

    public static void run(Kvm kvm) {
        runVcpuLoops(kvm);
        VmConfig config = new VmConfig(X86Layout.forMemory(32L << 20), 1, OutputStream.nullOutputStream(), "test:warm-up");
        try (Vm a = Vm.create(kvm, config); Vm b = Vm.create(kvm, config)) {
            for (int i = 0; i < ROUNDS; i++) {
                b.restoreState(a.saveState());
            }
        }
    }

    private static final int BOOTS = 4;
    private static final String BOOT = "test:poweroff,mem=32M,hz=1000,heartbeat=1";

    private static void runVcpuLoops(Kvm kvm) {
        TestGuestFactory boots = new TestGuestFactory(kvm, 1, OutputStream.nullOutputStream(), OutputStream.nullOutputStream());
        for (int i = 0; i < BOOTS; i++) {
            Vm vm;
            try {
                vm = boots.bootSource(BOOT);
            } catch (java.io.UncheckedIOException e) {
                return; // no built-in guest in this build: nothing to warm the loop with
            }
            try (vm) {
                vm.awaitOutcome(java.time.Duration.ofSeconds(10));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
