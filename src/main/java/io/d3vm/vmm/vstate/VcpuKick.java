package io.d3vm.vmm.vstate;

import io.d3vm.sys.LibC;

/**
 * The signal that kicks a vCPU thread out of {@code KVM_RUN}: {@code SIGRTMIN + 4}, with a handler
 * that does nothing (so {@code KVM_RUN} returns EINTR). HotSpot on Linux uses SIGUSR2 for thread
 * suspend/resume (and SIGSEGV/SIGBUS/SIGFPE/SIGILL/SIGPIPE/SIGQUIT for its own purposes), none of
 * the real-time range; glibc reserves the two below SIGRTMIN. Installed once per process.
 */
final class VcpuKick {
    private static volatile int signal;

    private VcpuKick() {}

    static int signal() {
        int s = signal;
        if (s == 0) {
            synchronized (VcpuKick.class) {
                s = signal;
                if (s == 0) {
                    s = LibC.sigrtmin() + 4;
                    LibC.installNoopSignalHandler(s);
                    signal = s;
                }
            }
        }
        return s;
    }

    /** Signals thread {@code tid} of this process; a thread that already ended is ignored. */
    static void kick(int tid) {
        if (tid != 0) {
            LibC.tgkill(LibC.getpid(), tid, signal());
        }
    }
}
