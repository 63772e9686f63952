package io.d3vm.vmm.vstate;

import io.d3vm.kvm.VcpuExit;
import io.d3vm.kvm.VcpuFd;
import io.d3vm.kvm.VmFd;
import io.d3vm.sys.LibC;
import io.d3vm.vmm.devices.IoBus;

import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

/**
 * One vCPU and the platform thread that runs it. The thread creates the KVM vCPU (KVM wants a
 * vCPU's ioctls from one thread), then loops: {@code KVM_RUN}, handle the exit, repeat.
 *
 * <p>Lifecycle: created paused; {@link #resume()} lets it run; {@link #pause()} returns only when
 * the thread is outside {@code KVM_RUN} and parked (it sets {@code immediate_exit}, which also
 * completes a half-done I/O instruction, and kicks the thread with a signal in case it sits in the
 * guest or in an in-kernel {@code hlt}); {@link #call} runs code on the parked thread (state
 * get/set); {@link #stop()} ends the thread. Used by {@link Vm}.
 */
public final class Vcpu {
    /** What the VM does for the vCPU loop. */
    interface Host extends io.d3vm.vmm.devices.PlatformEvents {
        IoBus ioBus();

        /** The guest or the VMM hit something it cannot continue from; the VM stops. */
        void fail(String message);
    }

    private final int id;
    private final VmFd vmFd;
    private final Host host;
    private final Thread thread;
    private final Object lock = new Object();
    private final ArrayDeque<FutureTask<?>> tasks = new ArrayDeque<>();
    private final CountDownLatch created = new CountDownLatch(1);
    private final AtomicLong exits = new AtomicLong();

    // Guarded by lock.
    private boolean pauseRequested = true;
    private boolean parked;
    /** Auto-converge: the thread stays out of the guest until this System.nanoTime() (0: no throttle sleep due). */
    private long throttledUntil;
    private long throttledNanos;
    private boolean stopRequested;
    private boolean ended;
    private VcpuFd fd;
    private int tid;
    private Throwable creationFailure;

    Vcpu(int id, VmFd vmFd, Host host) {
        this.id = id;
        this.vmFd = vmFd;
        this.host = host;
        VcpuKick.signal(); // install the handler before any thread can be kicked
        this.thread = Thread.ofPlatform().name("vcpu-" + id).daemon(true).unstarted(this::loop);
    }

    public int id() {
        return id;
    }

    /** Exits handled so far (KVM_RUN returns, including kicks). */
    public long exitCount() {
        return exits.get();
    }

    /** Starts the thread and waits until the KVM vCPU exists; the vCPU stays paused. */
    void start() {
        thread.start();
        try {
            created.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating vCPU " + id, e);
        }
        synchronized (lock) {
            if (creationFailure != null) {
                throw creationFailure instanceof RuntimeException r ? r
                        : new IllegalStateException("creating vCPU " + id + " failed", creationFailure);
            }
        }
    }

    /**
     * Runs {@code task} on the vCPU thread with the KVM vCPU and returns its result. The vCPU must
     * be paused (or not yet resumed); KVM state ioctls are only consistent then.
     */
    <T> T call(Function<VcpuFd, T> task) {
        FutureTask<T> f;
        synchronized (lock) {
            if (ended) {
                throw new IllegalStateException("vCPU " + id + " has stopped");
            }
            if (!pauseRequested) {
                throw new IllegalStateException("vCPU " + id + " must be paused for this");
            }
            VcpuFd vcpu = fd;
            f = new FutureTask<>(() -> task.apply(vcpu));
            tasks.add(f);
            lock.notifyAll();
        }
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted waiting for vCPU " + id, e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException("vCPU " + id + " task failed", e.getCause());
        }
    }

    /** Stops the vCPU from running guest code; returns when it is parked. Idempotent. */
    void pause() {
        int kickTid;
        synchronized (lock) {
            if (ended) {
                return;
            }
            pauseRequested = true;
            fd.kvmRun().setImmediateExit(true);
            kickTid = parked ? 0 : tid;
            lock.notifyAll(); // a thread in a throttle sleep parks now
        }
        VcpuKick.kick(kickTid);
        synchronized (lock) {
            while (!parked && !ended) {
                waitOnLock();
            }
        }
    }

    /**
     * Auto-converge's throttle: takes the vCPU out of the guest for {@code sleepNanos} from now (a
     * kick, as for a pause), so the guest runs, and dirties memory, for a smaller share of time.
     * A pause or stop during the sleep is served at once.
     */
    void throttle(long sleepNanos) {
        int kickTid;
        synchronized (lock) {
            if (ended || pauseRequested || fd == null) {
                return;
            }
            throttledUntil = System.nanoTime() + sleepNanos;
            fd.kvmRun().setImmediateExit(true);
            kickTid = parked ? 0 : tid;
        }
        VcpuKick.kick(kickTid);
    }

    /** Time this vCPU spent kept out of the guest by {@link #throttle}. */
    long throttledNanos() {
        synchronized (lock) {
            return throttledNanos;
        }
    }

    /** Lets a paused vCPU run again. Idempotent. */
    void resume() {
        synchronized (lock) {
            pauseRequested = false;
            lock.notifyAll();
        }
    }

    /** Asks the thread to end (from any thread, including this vCPU's own). */
    void requestStop() {
        int kickTid;
        synchronized (lock) {
            stopRequested = true;
            if (fd != null) {
                fd.kvmRun().setImmediateExit(true);
            }
            kickTid = Thread.currentThread() == thread || parked ? 0 : tid;
            lock.notifyAll();
        }
        VcpuKick.kick(kickTid);
    }

    /** Waits for the thread to end and releases the KVM vCPU. Not from the vCPU thread itself. */
    void join() {
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (lock) {
            if (fd != null) {
                fd.close();
                fd = null;
            }
        }
    }

    private void waitOnLock(long nanos) {
        try {
            lock.wait(nanos / 1_000_000, (int) (nanos % 1_000_000));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted waiting for vCPU " + id, e);
        }
    }

    private void waitOnLock() {
        try {
            lock.wait();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted waiting for vCPU " + id, e);
        }
    }

    private void loop() {
        VcpuFd vcpu;
        try {
            vcpu = vmFd.createVcpu(id);
            synchronized (lock) {
                fd = vcpu;
                tid = LibC.gettid();
            }
        } catch (Throwable t) {
            synchronized (lock) {
                creationFailure = t;
                ended = true;
                lock.notifyAll();
            }
            created.countDown();
            return;
        }
        created.countDown();
        try {
            while (awaitRunnable(vcpu)) {
                VcpuExit exit = vcpu.run();
                exits.incrementAndGet();
                if (!handle(vcpu, exit)) {
                    break;
                }
            }
        } catch (Throwable t) {
            host.fail("vCPU " + id + " stopped: " + t);
        } finally {
            synchronized (lock) {
                ended = true;
                parked = false;
                for (FutureTask<?> f : tasks) {
                    f.cancel(false);
                }
                tasks.clear();
                lock.notifyAll();
            }
        }
    }

    /** Parks while paused, running queued tasks; returns false when the thread should end. */
    private boolean awaitRunnable(VcpuFd vcpu) {
        while (true) {
            FutureTask<?> task;
            synchronized (lock) {
                if (stopRequested) {
                    return false;
                }
                task = tasks.poll();
                if (task == null) {
                    long sleep = throttledUntil - System.nanoTime();
                    if (!pauseRequested && throttledUntil != 0 && sleep > 0) {
                        long from = System.nanoTime();
                        waitOnLock(sleep);
                        throttledNanos += System.nanoTime() - from;
                        continue;
                    }
                    throttledUntil = 0;
                    if (!pauseRequested) {
                        parked = false;
                        // Cleared under the lock and only when no pause is pending, so a pause()
                        // that set it after our last check cannot be lost.
                        vcpu.kvmRun().setImmediateExit(false);
                        return true;
                    }
                    parked = true;
                    lock.notifyAll();
                    waitOnLock();
                    continue;
                }
            }
            task.run();
        }
    }

    /** Handles one exit; false ends the loop. */
    private boolean handle(VcpuFd vcpu, VcpuExit exit) {
        switch (exit) {
            case VcpuExit.Interrupted i -> {
                return true; // a kick: the loop checks pause/stop
            }
            case VcpuExit.IoOut io -> {
                MemorySegment d = io.data();
                for (int i = 0; i < io.count(); i++) {
                    host.ioBus().write(io.port(), io.size(), readValue(d, (long) i * io.size(), io.size()));
                }
                return true;
            }
            case VcpuExit.IoIn io -> {
                MemorySegment d = io.data();
                for (int i = 0; i < io.count(); i++) {
                    writeValue(d, (long) i * io.size(), io.size(), host.ioBus().read(io.port(), io.size()));
                }
                return true;
            }
            case VcpuExit.Mmio mmio -> {
                // No MMIO devices: reads see all ones, writes vanish (like an empty bus).
                if (!mmio.isWrite()) {
                    mmio.data().fill((byte) 0xff);
                }
                return true;
            }
            case VcpuExit.Intr i -> {
                return true;
            }
            case VcpuExit.SystemEvent ev -> {
                switch (ev.type()) {
                    case VcpuExit.SystemEvent.SHUTDOWN -> host.powerOff("KVM_SYSTEM_EVENT_SHUTDOWN");
                    case VcpuExit.SystemEvent.RESET -> host.reset("KVM_SYSTEM_EVENT_RESET");
                    default -> host.fail("KVM_EXIT_SYSTEM_EVENT type " + ev.type() + where(vcpu));
                }
                return false;
            }
            case VcpuExit.InternalError err -> {
                host.fail("KVM_EXIT_INTERNAL_ERROR: " + err.describe() + where(vcpu)
                        + " (on kvm_pvm hosts: an instruction its emulator cannot run, see docs/VMM.md)");
                return false;
            }
            case VcpuExit.Shutdown s -> {
                host.fail("KVM_EXIT_SHUTDOWN: the guest triple-faulted" + where(vcpu));
                return false;
            }
            case VcpuExit.FailEntry f -> {
                host.fail("KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x" + Long.toHexString(f.reason())
                        + " on host cpu " + f.cpu() + where(vcpu));
                return false;
            }
            case VcpuExit.Hlt h -> {
                host.fail("KVM_EXIT_HLT: the guest halted with no in-kernel irqchip to wake it" + where(vcpu));
                return false;
            }
            case VcpuExit.Unknown u -> {
                host.fail("unhandled KVM exit reason " + u.reason() + where(vcpu));
                return false;
            }
        }
    }

    private String where(VcpuFd vcpu) {
        try {
            var r = vcpu.getRegs();
            var s = vcpu.getSregs();
            return String.format(" on vCPU %d at RIP 0x%x (RSP 0x%x, CR0 0x%x, CR3 0x%x, EFER 0x%x)",
                    id, r.rip(), r.rsp(), s.cr0(), s.cr3(), s.efer());
        } catch (RuntimeException e) {
            return " on vCPU " + id + " (registers unavailable: " + e.getMessage() + ")";
        }
    }

    private static int readValue(MemorySegment d, long off, int size) {
        return switch (size) {
            case 1 -> d.get(JAVA_BYTE, off) & 0xff;
            case 2 -> d.get(JAVA_SHORT_UNALIGNED, off) & 0xffff;
            default -> d.get(JAVA_INT_UNALIGNED, off);
        };
    }

    private static void writeValue(MemorySegment d, long off, int size, int v) {
        switch (size) {
            case 1 -> d.set(JAVA_BYTE, off, (byte) v);
            case 2 -> d.set(JAVA_SHORT_UNALIGNED, off, (short) v);
            default -> d.set(JAVA_INT_UNALIGNED, off, v);
        }
    }
}
