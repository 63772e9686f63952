package io.d3vm.vmm.vstate;

import io.d3vm.kvm.CpuidEntry;
import io.d3vm.kvm.Kvm;
import io.d3vm.kvm.Regs;
import io.d3vm.kvm.Sregs;
import io.d3vm.kvm.VcpuFd;
import io.d3vm.kvm.VmFd;
import io.d3vm.memory.GuestMemory;
import io.d3vm.vmm.boot.BootCpuState;
import io.d3vm.vmm.boot.BootEntry;
import io.d3vm.vmm.devices.I8042;
import io.d3vm.vmm.devices.Debugcon;
import io.d3vm.vmm.devices.IoBus;
import io.d3vm.vmm.devices.PowerOffPorts;
import io.d3vm.vmm.devices.Serial8250;

import io.d3vm.kvm.IrqchipState;
import io.d3vm.kvm.ClockData;
import io.d3vm.memory.DirtyBitmap;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.vmm.persist.MachineState;
import io.d3vm.vmm.persist.StateCodec;
import io.d3vm.vmm.persist.VcpuSnapshot;
import io.d3vm.vmm.persist.VcpuState;
import io.d3vm.vmm.persist.VmState;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A KVM virtual machine: guest memory registered as memslots, the in-kernel irqchip and PIT, the
 * port-I/O devices (COM1, i8042 reset, power-off ports), and its vCPUs, each on its own thread.
 *
 * <p>Built paused by {@link #create}; a loader writes the guest into {@link #memory()} and sets the
 * boot vCPU with {@link #setUpBootVcpu}; {@link #start()} runs it; {@link #awaitOutcome} returns
 * when the guest powers off, resets or fails; {@link #close()} releases everything. The CLI's
 * {@code run} command and the migration engine (through {@code Migratable}) drive it.
 */
public final class Vm implements Migratable, AutoCloseable, Vcpu.Host {
    private final Kvm kvm;
    private final VmConfig config;
    private final VmFd vmFd;
    private final GuestMemory memory;
    private final IoBus ioBus = new IoBus();
    private final Serial8250 serial;
    private final List<Vcpu> vcpus = new ArrayList<>();
    private final List<CpuidEntry> baselineCpuid;
    private final CompletableFuture<VmOutcome> outcome = new CompletableFuture<>();
    private final DirtyLog dirtyLog;
    private final CpuThrottle throttle = new CpuThrottle(vcpus);
    private final VcpuSnapshot snapshot;
    private boolean started;
    private boolean closed;

    private Vm(VmShell shell, VmConfig config, GuestMemory memory) {
        this.kvm = shell.kvm;
        this.config = config;
        this.vmFd = shell.vmFd;
        this.memory = memory;
        this.serial = new Serial8250(config.serialOut(), level -> vmFd.irqLine(Serial8250.COM1_IRQ, level));
        this.baselineCpuid = shell.baselineCpuid;
        this.dirtyLog = new DirtyLog(vmFd, memory);
        this.snapshot = new VcpuSnapshot(kvm);
    }

    /**
     * Builds a paused VM with zeroed memory. {@code kvm} stays the caller's (one per process is
     * enough); the VM owns everything else it creates.
     */
    public static Vm create(Kvm kvm, VmConfig config) {
        return attach(VmShell.prepare(kvm, config.vcpus()), config);
    }

    /**
     * Completes a prepared {@link VmShell} into a paused VM of {@code config}: maps zeroed memory of
     * its layout and registers the memslots (what is left of a VM's creation once the shell exists,
     * a few milliseconds). The VM owns the shell from here; on failure the shell is closed.
     */
    public static Vm attach(VmShell shell, VmConfig config) {
        if (shell.vcpuCount() != config.vcpus()) {
            shell.close();
            throw new IllegalArgumentException("the prepared VM has " + shell.vcpuCount() + " vCPUs, the guest needs " + config.vcpus());
        }
        shell.claim();
        GuestMemory memory = null;
        Vm vm = null;
        try {
            memory = GuestMemory.allocate(config.layout());
            vm = new Vm(shell, config, memory);
            vm.vcpus.addAll(shell.vcpus);
            shell.host.attach(vm);
            vm.dirtyLog.registerMemory(0);
            vm.wireDevices();
            return vm;
        } catch (RuntimeException e) {
            if (vm != null) {
                vm.close();
            } else {
                if (memory != null) {
                    memory.close();
                }
                for (Vcpu v : shell.vcpus) {
                    v.requestStop();
                }
                for (Vcpu v : shell.vcpus) {
                    v.join();
                }
                shell.vmFd.close();
            }
            throw e;
        }
    }

    private void wireDevices() {
        ioBus.register(Serial8250.COM1_BASE, Serial8250.LENGTH, serial);
        ioBus.register(I8042.BASE, I8042.LENGTH, new I8042(this));
        ioBus.register(PowerOffPorts.ACPI_PM1A_CNT, 2, new PowerOffPorts(PowerOffPorts.Kind.ACPI_PM1A, this));
        ioBus.register(PowerOffPorts.DEBUG_EXIT, 4, new PowerOffPorts(PowerOffPorts.Kind.DEBUG_EXIT, this));
        if (config.debugconOut() != null) {
            ioBus.register(Debugcon.PORT, 1, new Debugcon(config.debugconOut()));
        }
    }

    /**
     * Puts the boot vCPU in 64-bit long mode at {@code boot}: the GDT and page tables must already
     * be in memory ({@code LongMode.setUp}). {@code rax} is the extra boot argument (the Multiboot
     * magic for the test guest, 0 for Linux).
     */
    public void setUpBootVcpu(BootCpuState boot, long rax) {
        setUpBootVcpu(new BootEntry.LongMode64(boot, rax));
    }

    /** Sets the boot vCPU's registers for {@code entry} (the other vCPUs wait for INIT/SIPI). */
    public void setUpBootVcpu(BootEntry entry) {
        vcpus.getFirst().call(fd -> {
            switch (entry) {
                case BootEntry.LongMode64 l -> BootVcpu.enterLongMode(fd, l.cpu(), l.rax());
                case BootEntry.Protected32 p -> BootVcpu.enterProtectedMode(fd, p);
            }
            return null;
        });
    }


    /** Lets the vCPUs run (the first time, or again after a pause). */
    public synchronized void start() {
        if (closed) {
            throw new IllegalStateException("VM is closed");
        }
        started = true;
        for (Vcpu v : vcpus) {
            v.resume();
        }
    }

    /** Pauses every vCPU; returns when none is inside KVM_RUN. */
    public void pauseVcpus() {
        for (Vcpu v : vcpus) {
            v.pause();
        }
    }

    /**
     * Where vCPU {@code id} is: RIP, RSP, control registers, EFER and its MP state, in one line.
     * Pauses the vCPUs for the read and lets them run again if they were running. For diagnosing a
     * guest that hangs without an exit (the opt-in Linux suite prints it at its time limit).
     */
    public String describeVcpu(int id) {
        boolean wasRunning;
        synchronized (this) {
            wasRunning = started && !closed && outcome.getNow(null) == null;
        }
        pauseVcpus();
        try {
            return vcpus.get(id).call(fd -> {
                Regs r = fd.getRegs();
                Sregs s = fd.getSregs();
                return String.format("vCPU %d: RIP 0x%x RSP 0x%x RFLAGS 0x%x CR0 0x%x CR2 0x%x CR3 0x%x CR4 0x%x EFER 0x%x"
                                + " IDT 0x%x/%d mp_state %d", id, r.rip(), r.rsp(), r.rflags(), s.cr0(), s.cr2(), s.cr3(),
                        s.cr4(), s.efer(), s.idt().base(), s.idt().limit(), fd.getMpState());
            });
        } catch (IllegalStateException e) {
            return "vCPU " + id + ": " + e.getMessage();
        } finally {
            if (wasRunning && outcome.getNow(null) == null) {
                start();
            }
        }
    }

    /** Blocks until the guest powers off, resets or fails. */
    public VmOutcome awaitOutcome() throws InterruptedException {
        try {
            return outcome.get();
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    /** Like {@link #awaitOutcome()} but gives up after {@code timeout}; null then. */
    public VmOutcome awaitOutcome(Duration timeout) throws InterruptedException {
        try {
            return outcome.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            return null;
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    /** The outcome if the VM has ended, else null. */
    public VmOutcome outcomeNow() {
        return outcome.getNow(null);
    }

    public GuestMemory memory() {
        return memory;
    }

    public Serial8250 serial() {
        return serial;
    }

    public VmConfig config() {
        return config;
    }

    public int vcpuCount() {
        return vcpus.size();
    }

    /** KVM_RUN returns handled on all vCPUs so far (for exit-rate measurements). */
    public long exitCount() {
        long n = 0;
        for (Vcpu v : vcpus) {
            n += v.exitCount();
        }
        return n;
    }

    @Override
    public IoBus ioBus() {
        return ioBus;
    }

    @Override
    public void powerOff(String source) {
        end(new VmOutcome.PowerOff(source));
    }

    @Override
    public void reset(String source) {
        end(new VmOutcome.Reset(source));
    }

    @Override
    public void fail(String message) {
        end(new VmOutcome.Failed(message));
    }

    /** Records the first outcome and stops every vCPU (callable from a vCPU thread). */
    private void end(VmOutcome o) {
        if (outcome.complete(o)) {
            for (Vcpu v : vcpus) {
                v.requestStop();
            }
            serial.flush();
        }
    }

    // ---------------------------------------------------------------- Migratable

    @Override
    public String describe() {
        return config.description();
    }

    /**
     * Writes {@code data} into guest memory at {@code gpa} on behalf of the VMM (a device, a
     * loader after boot) and records the pages in the VMM's own dirty bitmap, which KVM's log
     * cannot see: {@link #collectDirtyPages} ORs both.
     */
    public void vmmWrite(long gpa, byte[] data) {
        MemorySegment.copy(data, 0, memory.slice(gpa, data.length), java.lang.foreign.ValueLayout.JAVA_BYTE, 0, data.length);
        dirtyLog.vmmWrote(gpa, data.length);
    }

    /** Re-registers every memslot with {@code KVM_MEM_LOG_DIRTY_PAGES}; the log starts empty. */
    @Override
    public void startDirtyLogging() {
        dirtyLog.start();
    }

    /** ORs into {@code into} the pages the guest or the VMM wrote since the last call ({@link DirtyLog#collect}). */
    @Override
    public void collectDirtyPages(DirtyBitmap into) {
        dirtyLog.collect(into);
    }

    @Override
    public synchronized void stopDirtyLogging() {
        dirtyLog.stop(!closed);
    }

    /** Auto-converge's throttle on the vCPUs ({@link CpuThrottle}). */
    @Override
    public void throttle(int percent) {
        throttle.set(percent);
    }

    /** Time the vCPUs were kept out of the guest by the throttle, summed over vCPUs. */
    public long throttledNanos() {
        long sum = 0;
        for (Vcpu v : vcpus) {
            sum += v.throttledNanos();
        }
        return sum;
    }

    /** Stops the vCPUs and freezes console input, so the saved serial state is the last one. */
    @Override
    public void pause() {
        serial.freezeInput(true);
        pauseVcpus();
    }

    @Override
    public void resume() {
        start();
        serial.freezeInput(false);
    }

    /** The state of a paused VM, encoded by {@link StateCodec}. */
    @Override
    public byte[] saveState() {
        return StateCodec.encode(captureState());
    }

    /** Reads the state of every vCPU, the in-kernel devices and the serial port. The VM must be paused. */
    public MachineState captureState() {
        List<VcpuState> states = new ArrayList<>();
        for (Vcpu v : vcpus) {
            states.add(v.call(snapshot::save));
        }
        // kvmclock is read after the vCPUs so the clock value is the latest the guest could have seen.
        ClockData clock = vmFd.getClock();
        // KVM_CLOCK_TSC_STABLE describes the source host; KVM_SET_CLOCK must not be told it.
        clock = new ClockData(clock.clock(), clock.flags() & ~ClockData.TSC_STABLE, clock.realtime(), clock.hostTsc());
        VmState vm = new VmState(vmFd.getIrqchip(IrqchipState.PIC_MASTER), vmFd.getIrqchip(IrqchipState.PIC_SLAVE),
                vmFd.getIrqchip(IrqchipState.IOAPIC), vmFd.getPit2(), clock);
        return new MachineState(vm, states, serial.save());
    }

    @Override
    public void restoreState(byte[] state) {
        applyState(StateCodec.decode(state));
    }

    /** Writes a saved state into this paused VM (built with the same layout and vCPU count). */
    public void applyState(MachineState s) {
        if (s.vcpus().size() != vcpus.size()) {
            throw new IllegalArgumentException("saved state has " + s.vcpus().size() + " vCPUs, this VM " + vcpus.size());
        }
        // VM-wide devices first, as Firecracker does: PIT, then kvmclock, then the PICs and IOAPIC,
        // so the LAPIC restores below see the interrupt controllers they are wired to.
        vmFd.setPit2(s.vm().pit());
        vmFd.setClock(s.vm().clock());
        vmFd.setIrqchip(s.vm().picMaster());
        vmFd.setIrqchip(s.vm().picSlave());
        vmFd.setIrqchip(s.vm().ioapic());
        for (int i = 0; i < vcpus.size(); i++) {
            VcpuState v = s.vcpus().get(i);
            vcpus.get(i).call(fd -> {
                snapshot.restore(fd, v);
                return null;
            });
        }
        serial.restore(s.serial());
    }

    @Override
    public void shutdown() {
        close();
    }

    /** Ends the VM from the VMM side (e.g. after a migration) and releases it. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        throttle.set(0);
        end(new VmOutcome.Stopped("closed by the VMM"));
        for (Vcpu v : vcpus) {
            v.join();
        }
        stopDirtyLogging();
        vmFd.close();
        memory.close();
    }
}
