package io.d3vm.vmm.vstate;

import io.d3vm.kvm.Kvm;

import java.io.OutputStream;

/**
 * Compiles the vCPU/VM state path (every KVM_GET_* and KVM_SET_* call, the struct layouts and
 * {@link io.d3vm.vmm.persist.StateCodec}) before a migration's pause needs it: their first calls in a process link the
 * native downcalls and run interpreted, inside the downtime. In {@code ./d3vm bench} runs of the
 * 1 GiB test guest before this existed, {@code state-save} took 5–19 ms and the destination's
 * {@code state-restore} 6–16 ms; with it, medians of about 1 and 1–2.5 ms (docs/BENCHMARKS.md). So
 * {@code receive} (before it listens) and {@code run --api-socket} (while its guest boots) save the
 * state of a small never-started VM and restore it into another, a number of times, and pause,
 * read and resume a small running guest as the switch-over does.
 *
 * <p>A received guest also runs its first instructions in a process whose vCPU loop never ran:
 * {@code KVM_RUN}'s downcall, exit decoding, the I/O bus and the devices, all cold. Its first
 * timer tick after GO came 15–25 ms late (timestamps at GO and at the first port-0xe9 write, added
 * while measuring with scripts/switchover.py; after the warm-up 0.05–2 ms). So the warm-up
 * also boots the built-in test guest's {@code poweroff} workload a few times (a boot line on the
 * serial port, the PIT, the debug port, a power-off: a few hundred exits of every common kind).
 */
public final class StateWarmup {
    // Enough calls for the save/restore path to leave the interpreter and C1's profiling tier
    // (their thresholds are a few hundred calls): 40 rounds left state-restore at ~1 ms in the pause,
    // 400 (and 300 pauses of a running guest) at ~0.5 ms, for ~0.5 s more start-up (docs/BENCHMARKS.md,
    // "Switch-over"). System properties for A/B runs.
    private static final int ROUNDS = Integer.getInteger("d3vm.warmup.stateRounds", 400);
    private static final int PAUSES = Integer.getInteger("d3vm.warmup.pauses", 300);

    private StateWarmup() {}

    public static void run(Kvm kvm) {
        runVcpuLoops(kvm);
        pauseRunningGuest(kvm);
        VmConfig config = new VmConfig(X86Layout.forMemory(32L << 20), 1, OutputStream.nullOutputStream(), "test:warm-up");
        try (Vm a = Vm.create(kvm, config); Vm b = Vm.create(kvm, config)) {
            for (int i = 0; i < ROUNDS; i++) {
                b.restoreState(a.saveState());
            }
        }
    }

    /**
     * Pauses a running guest, reads its state and resumes it, {@link #PAUSES} times: the source's
     * pause (kicking a vCPU out of KVM_RUN, waiting for it to park) and its state read of a vCPU
     * that ran, as the switch-over does them.
     */
    private static void pauseRunningGuest(Kvm kvm) {
        if (PAUSES == 0) {
            return;
        }
        KvmGuestFactory boots = new KvmGuestFactory(kvm, 1, OutputStream.nullOutputStream(), OutputStream.nullOutputStream());
        Vm vm;
        try {
            vm = boots.bootSource("test:idle,mem=32M,hz=1000,heartbeat=1");
        } catch (java.io.UncheckedIOException e) {
            return;
        }
        try (vm) {
            for (int i = 0; i < PAUSES; i++) {
                vm.pause();
                vm.saveState();
                vm.resume();
                java.util.concurrent.locks.LockSupport.parkNanos(200_000); // let the vCPU enter the guest again
            }
        }
    }

    private static final int BOOTS = 4;
    private static final String BOOT = "test:poweroff,mem=32M,hz=1000,heartbeat=1";

    private static void runVcpuLoops(Kvm kvm) {
        KvmGuestFactory boots = new KvmGuestFactory(kvm, 1, OutputStream.nullOutputStream(), OutputStream.nullOutputStream());
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
