package io.d3vm.vmm.vstate;

import io.d3vm.kvm.Blob;
import io.d3vm.kvm.Cap;
import io.d3vm.kvm.CpuidEntry;
import io.d3vm.kvm.DTable;
import io.d3vm.kvm.Kvm;
import io.d3vm.kvm.LapicState;
import io.d3vm.kvm.Regs;
import io.d3vm.kvm.Segment;
import io.d3vm.kvm.Sregs;
import io.d3vm.kvm.VcpuFd;
import io.d3vm.kvm.VmFd;
import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryRegion;
import io.d3vm.vmm.boot.BootCpuState;
import io.d3vm.vmm.devices.I8042;
import io.d3vm.vmm.devices.IoBus;
import io.d3vm.vmm.devices.PowerOffPorts;
import io.d3vm.vmm.devices.Serial8250;

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
public final class Vm implements AutoCloseable, Vcpu.Host {
    private final Kvm kvm;
    private final VmConfig config;
    private final VmFd vmFd;
    private final GuestMemory memory;
    private final IoBus ioBus = new IoBus();
    private final Serial8250 serial;
    private final List<Vcpu> vcpus = new ArrayList<>();
    private final List<CpuidEntry> baselineCpuid;
    private final CompletableFuture<VmOutcome> outcome = new CompletableFuture<>();
    private boolean started;
    private boolean closed;

    private Vm(Kvm kvm, VmConfig config, VmFd vmFd, GuestMemory memory) {
        this.kvm = kvm;
        this.config = config;
        this.vmFd = vmFd;
        this.memory = memory;
        this.serial = new Serial8250(config.serialOut(), level -> vmFd.irqLine(Serial8250.COM1_IRQ, level));
        this.baselineCpuid = CpuProfile.baseline(kvm.supportedCpuid());
    }

    /**
     * Builds a paused VM with zeroed memory. {@code kvm} stays the caller's (one per process is
     * enough); the VM owns everything else it creates.
     */
    public static Vm create(Kvm kvm, VmConfig config) {
        requireCapabilities(kvm);
        VmFd vmFd = kvm.createVm();
        GuestMemory memory = null;
        Vm vm = null;
        try {
            // Both addresses must be set before the first vCPU exists (KVM rejects them after).
            vmFd.setTssAddr(X86Layout.TSS_ADDR);
            vmFd.setIdentityMapAddr(X86Layout.IDENTITY_MAP_ADDR);
            // The irqchip must exist before vCPUs (they get their LAPIC from it), the PIT after it.
            vmFd.createIrqchip();
            vmFd.createPit2(VmFd.PIT_SPEAKER_DUMMY);
            memory = GuestMemory.allocate(config.layout());
            vm = new Vm(kvm, config, vmFd, memory);
            vm.registerMemory(0);
            vm.wireDevices();
            vm.createVcpus();
            return vm;
        } catch (RuntimeException e) {
            if (vm != null) {
                vm.close();
            } else {
                if (memory != null) {
                    memory.close();
                }
                vmFd.close();
            }
            throw e;
        }
    }

    private static void requireCapabilities(Kvm kvm) {
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

    /** (Re-)registers every memory region as a memslot (slot i = region i) with {@code flags}. */
    void registerMemory(int flags) {
        List<MemoryRegion> regions = memory.regions();
        for (int slot = 0; slot < regions.size(); slot++) {
            MemoryRegion r = regions.get(slot);
            // SAFETY: the host mapping lives as long as `memory`, which outlives the VM fd
            // (close() deletes nothing but closes the VM first, then unmaps).
            vmFd.setUserMemoryRegion(slot, flags, r.guestPhysAddr(), r.size(), r.host().address());
        }
    }

    private void wireDevices() {
        ioBus.register(Serial8250.COM1_BASE, Serial8250.LENGTH, serial);
        ioBus.register(I8042.BASE, I8042.LENGTH, new I8042(this));
        ioBus.register(PowerOffPorts.ACPI_PM1A_CNT, 2, new PowerOffPorts(PowerOffPorts.Kind.ACPI_PM1A, this));
        ioBus.register(PowerOffPorts.DEBUG_EXIT, 4, new PowerOffPorts(PowerOffPorts.Kind.DEBUG_EXIT, this));
    }

    private void createVcpus() {
        for (int i = 0; i < config.vcpus(); i++) {
            Vcpu v = new Vcpu(i, vmFd, this);
            vcpus.add(v);
            v.start();
            List<CpuidEntry> cpuid = CpuProfile.forVcpu(baselineCpuid, i, config.vcpus());
            v.call(fd -> {
                fd.setCpuid2(cpuid);
                setLocalInterruptPins(fd);
                return null;
            });
        }
    }

    /**
     * Puts the LAPIC's LINT0 in ExtINT and LINT1 in NMI delivery mode, unmasked: the "virtual
     * wire" mode a PC BIOS leaves, through which the 8259 PIC (and so the PIT's IRQ 0) reaches
     * the boot CPU. Without it a guest that never programs its LAPIC gets no timer interrupt.
     */
    private static void setLocalInterruptPins(VcpuFd fd) {
        final int lvt0 = 0x350, lvt1 = 0x360, masked = 1 << 16, modeMask = 0x700, extInt = 0x700, nmi = 0x400;
        byte[] regs = fd.getLapic().regs().toArray();
        int v0 = readInt(regs, lvt0);
        int v1 = readInt(regs, lvt1);
        writeInt(regs, lvt0, (v0 & ~(modeMask | masked)) | extInt);
        writeInt(regs, lvt1, (v1 & ~(modeMask | masked)) | nmi);
        fd.setLapic(new LapicState(new Blob(regs)));
    }

    private static int readInt(byte[] b, int off) {
        return (b[off] & 0xff) | (b[off + 1] & 0xff) << 8 | (b[off + 2] & 0xff) << 16 | (b[off + 3] & 0xff) << 24;
    }

    private static void writeInt(byte[] b, int off, int v) {
        b[off] = (byte) v;
        b[off + 1] = (byte) (v >>> 8);
        b[off + 2] = (byte) (v >>> 16);
        b[off + 3] = (byte) (v >>> 24);
    }

    /**
     * Puts the boot vCPU in 64-bit long mode at {@code boot}: the GDT and page tables must already
     * be in memory ({@code LongMode.setUp}). {@code rax} is the extra boot argument (the Multiboot
     * magic for the test guest, 0 for Linux).
     */
    public void setUpBootVcpu(BootCpuState boot, long rax) {
        vcpus.getFirst().call(fd -> {
            Sregs cur = fd.getSregs();
            // Flat segments from the GDT LongMode wrote: the cached descriptors must match it.
            Segment code = new Segment(0, 0xffffffff, boot.codeSelector(), 0xb, 1, 0, 0, 1, 1, 1, 0, 0);
            Segment data = new Segment(0, 0xffffffff, boot.dataSelector(), 0x3, 1, 0, 1, 1, 0, 1, 0, 0);
            // TR must be a busy 64-bit TSS (type 11) for VM entry in long mode.
            Segment tr = new Segment(0, 0x67, boot.tssSelector(), 0xb, 1, 0, 0, 0, 0, 0, 0, 0);
            Segment ldt = new Segment(0, 0xffff, 0, 0x2, 1, 0, 0, 0, 0, 0, 0, 0);
            Sregs s = new Sregs(code, data, data, data, data, data, tr, ldt,
                    new DTable(boot.gdtBase(), boot.gdtLimit()), new DTable(0, 0),
                    BootCpuState.CR0, 0, boot.cr3(), BootCpuState.CR4, 0, BootCpuState.EFER,
                    cur.apicBase(), new long[4]);
            fd.setSregs(s);
            Regs r = Regs.initial();
            fd.setRegs(new Regs(rax, 0, 0, 0, boot.rsi(), boot.rdi(), boot.rsp(), 0, 0, 0, 0, 0, 0, 0, 0, 0,
                    boot.rip(), 0x2));
            return r;
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

    /** Ends the VM from the VMM side (e.g. after a migration) and releases it. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        end(new VmOutcome.Stopped("closed by the VMM"));
        for (Vcpu v : vcpus) {
            v.join();
        }
        vmFd.close();
        memory.close();
    }
}
