package io.d3vm.vmm.vstate;

import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * Auto-converge's brake on a KVM guest, with QEMU's semantics: at {@code p} % the vCPUs run
 * {@link #TIMESLICE_NANOS} and are then kept out of the guest for {@code TIMESLICE * p / (100 - p)},
 * so the guest gets {@code 100 - p} % of the time it had (and dirties memory that much slower). One
 * daemon thread kicks every vCPU once a period while the throttle is above 0.
 */
final class CpuThrottle {
    /** QEMU's CPU_THROTTLE_TIMESLICE_NS. */
    static final long TIMESLICE_NANOS = 10_000_000L;

    private final List<Vcpu> vcpus;
    private volatile int percent;
    private Thread thread;

    CpuThrottle(List<Vcpu> vcpus) {
        this.vcpus = vcpus;
    }

    /** Sets the throttle, 0 (off) to 99 %; setting 0 returns once the throttle thread has stopped. */
    synchronized void set(int p) {
        if (p < 0 || p > 99) {
            throw new IllegalArgumentException("throttle " + p + " % (0..99)");
        }
        percent = p;
        if (p > 0 && thread == null) {
            thread = Thread.ofPlatform().daemon().name("cpu-throttle").start(this::loop);
        } else if (p == 0 && thread != null) {
            // Wait for the thread to end: once this returns, no vCPU gets another throttle sleep.
            Thread t = thread;
            thread = null;
            LockSupport.unpark(t);
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    int percent() {
        return percent;
    }

    private void loop() {
        while (true) {
            int p = percent;
            if (p == 0) {
                return;
            }
            long sleep = TIMESLICE_NANOS * p / (100 - p);
            for (Vcpu v : vcpus) {
                v.throttle(sleep);
            }
            LockSupport.parkNanos(sleep + TIMESLICE_NANOS);
        }
    }
}
