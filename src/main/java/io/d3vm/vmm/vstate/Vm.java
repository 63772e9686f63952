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
import io.d3vm.vmm.devices.Debugcon;
import io.d3vm.vmm.devices.IoBus;
import io.d3vm.vmm.devices.PowerOffPorts;
import io.d3vm.vmm.devices.Serial8250;

import io.d3vm.kvm.IrqchipState;
import io.d3vm.kvm.MsrEntry;
import io.d3vm.kvm.ClockData;
import io.d3vm.memory.DirtyBitmap;
import io.d3vm.migration.guest.Migratable;

import java.lang.foreign.Arena;
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
    /** IA32_TSC and IA32_TSC_DEADLINE: the deadline only restores after the TSC (it is relative to it). */
    static final int MSR_IA32_TSC = 0x10;
    static final int MSR_IA32_TSC_DEADLINE = 0x6e0;

    private final Kvm kvm;
    private final VmConfig config;
    private final VmFd vmFd;
    private final GuestMemory memory;
    private final IoBus ioBus = new IoBus();
    private final Serial8250 serial;
    private final List<Vcpu> vcpus = new ArrayList<>();
    private final List<CpuidEntry> baselineCpuid;
    private final CompletableFuture<VmOutcome> outcome = new CompletableFuture<>();
    private final DirtyBitmap vmmDirty;
    private final int xsaveSize;
    private final boolean hasXcrs;
    private final int[] msrIndexList;
    private final boolean canScaleTsc;
    private boolean started;
    private boolean closed;
    // Dirty logging (guarded by this): one native bitmap per memslot while logging is on.
    private Arena dirtyArena;
    private MemorySegment[] dirtyBitmaps;

    private Vm(VmShell shell, VmConfig config, GuestMemory memory) {
        this.kvm = shell.kvm;
        this.config = config;
        this.vmFd = shell.vmFd;
        this.memory = memory;
        this.serial = new Serial8250(config.serialOut(), level -> vmFd.irqLine(Serial8250.COM1_IRQ, level));
        this.baselineCpuid = shell.baselineCpuid;
        this.vmmDirty = new DirtyBitmap(memory.pageCount());
        this.xsaveSize = kvm.checkExtension(Cap.XSAVE) > 0 ? Math.max(4096, kvm.checkExtension(Cap.XSAVE2)) : 0;
        this.hasXcrs = kvm.checkExtension(Cap.XCRS) > 0;
        this.msrIndexList = orderMsrs(kvm.msrIndexList());
        this.canScaleTsc = kvm.checkExtension(Cap.TSC_CONTROL) > 0;
    }

    /** Firecracker's tolerance: TSC calibrations of the same CPU model differ by less than this. */
    static final double TSC_KHZ_TOLERANCE = 250e-6;

    /** Whether a guest whose TSC ran at {@code savedKhz} needs scaling to run at {@code hereKhz}. */
    static boolean tscNeedsScaling(int savedKhz, int hereKhz) {
        if (savedKhz <= 0 || hereKhz <= 0) {
            return false; // one side could not tell: nothing to compare
        }
        return Math.abs((long) savedKhz - hereKhz) > Math.round(savedKhz * TSC_KHZ_TOLERANCE);
    }

    /** The MSRs to save, in an order that restores: TSC deadline after the TSC. */
    static int[] orderMsrs(int[] list) {
        int[] out = new int[list.length];
        int n = 0;
        boolean deadline = false;
        for (int m : list) {
            if (m == MSR_IA32_TSC_DEADLINE) {
                deadline = true;
            } else {
                out[n++] = m;
            }
        }
        if (deadline) {
            out[n++] = MSR_IA32_TSC_DEADLINE;
        }
        return java.util.Arrays.copyOf(out, n);
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
            vm.registerMemory(0);
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
        if (config.debugconOut() != null) {
            ioBus.register(Debugcon.PORT, 1, new Debugcon(config.debugconOut()));
        }
    }

    /**
     * Puts the LAPIC's LINT0 in ExtINT and LINT1 in NMI delivery mode, unmasked: the "virtual
     * wire" mode a PC BIOS leaves, through which the 8259 PIC (and so the PIT's IRQ 0) reaches
     * the boot CPU. Without it a guest that never programs its LAPIC gets no timer interrupt.
     */
    static void setLocalInterruptPins(VcpuFd fd) {
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
            // RFLAGS 0x2: only the reserved bit, interrupts off (the contract's entry state).
            fd.setRegs(new Regs(rax, 0, 0, 0, boot.rsi(), boot.rdi(), boot.rsp(), 0, 0, 0, 0, 0, 0, 0, 0, 0,
                    boot.rip(), 0x2));
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
        long first = memory.pageIndexOf(gpa);
        long last = memory.pageIndexOf(gpa + Math.max(0, data.length - 1));
        for (long p = first; p <= last; p++) {
            vmmDirty.set(p);
        }
    }

    /** Re-registers every memslot with {@code KVM_MEM_LOG_DIRTY_PAGES}; the log starts empty. */
    @Override
    public synchronized void startDirtyLogging() {
        if (dirtyArena != null) {
            return;
        }
        Arena arena = Arena.ofShared();
        MemorySegment[] bitmaps = new MemorySegment[memory.regions().size()];
        for (int slot = 0; slot < bitmaps.length; slot++) {
            long words = (memory.regions().get(slot).pages() + 63) >>> 6;
            bitmaps[slot] = arena.allocate(words * 8, 8);
        }
        vmmDirty.clearAll();
        registerMemory(VmFd.MEM_LOG_DIRTY_PAGES);
        dirtyArena = arena;
        dirtyBitmaps = bitmaps;
    }

    /**
     * ORs into {@code into} the pages written since the last call: KVM's per-slot log
     * ({@code KVM_GET_DIRTY_LOG} fetches and clears it atomically per word) and the VMM's own
     * bitmap (drained word by word atomically). A write racing with this call shows now or next time.
     */
    @Override
    public synchronized void collectDirtyPages(DirtyBitmap into) {
        if (dirtyArena == null) {
            throw new IllegalStateException("dirty logging is not on");
        }
        if (into.pages() != memory.pageCount()) {
            throw new IllegalArgumentException("bitmap of " + into.pages() + " pages for a guest of " + memory.pageCount());
        }
        List<MemoryRegion> regions = memory.regions();
        for (int slot = 0; slot < regions.size(); slot++) {
            MemoryRegion r = regions.get(slot);
            MemorySegment bitmap = dirtyBitmaps[slot];
            vmFd.getDirtyLog(slot, bitmap);
            long[] words = bitmap.toArray(java.lang.foreign.ValueLayout.JAVA_LONG);
            into.orWords(r.firstPageIndex(), words, r.pages());
        }
        vmmDirty.drainInto(into);
    }

    @Override
    public synchronized void stopDirtyLogging() {
        if (dirtyArena == null) {
            return;
        }
        if (!closed) {
            registerMemory(0);
        }
        dirtyArena.close();
        dirtyArena = null;
        dirtyBitmaps = null;
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
            states.add(v.call(this::saveVcpu));
        }
        // kvmclock is read after the vCPUs so the clock value is the latest the guest could have seen.
        ClockData clock = vmFd.getClock();
        // KVM_CLOCK_TSC_STABLE describes the source host; KVM_SET_CLOCK must not be told it.
        clock = new ClockData(clock.clock(), clock.flags() & ~ClockData.TSC_STABLE, clock.realtime(), clock.hostTsc());
        VmState vm = new VmState(vmFd.getIrqchip(IrqchipState.PIC_MASTER), vmFd.getIrqchip(IrqchipState.PIC_SLAVE),
                vmFd.getIrqchip(IrqchipState.IOAPIC), vmFd.getPit2(), clock);
        return new MachineState(vm, states, serial.save());
    }

    private VcpuState saveVcpu(VcpuFd fd) {
        // KVM_GET_MP_STATE first: it runs kvm_apic_accept_events(), which may change vCPU and
        // LAPIC state that the later reads must see.
        int mp = fd.getMpState();
        var regs = fd.getRegs();
        // SREGS carries a pending interrupt (interrupt_bitmap), as VCPU_EVENTS does.
        var sregs = fd.getSregs();
        var xsave = xsaveSize > 0 ? fd.getXsave(xsaveSize) : null;
        var fpu = xsaveSize > 0 ? null : fd.getFpu();
        var xcrs = hasXcrs ? fd.getXcrs() : null;
        var debug = fd.getDebugRegs();
        // KVM_GET_LAPIC may update the LAPIC before returning it.
        var lapic = fd.getLapic();
        List<MsrEntry> msrs = readMsrs(fd);
        var cpuid = fd.getCpuid2();
        int tscKhz;
        try {
            tscKhz = fd.getTscKhz();
        } catch (io.d3vm.kvm.KvmException e) {
            tscKhz = 0;
        }
        // VCPU_EVENTS last: the GETs above may change pending-event state.
        var events = fd.getVcpuEvents();
        return new VcpuState(fd.id(), mp, regs, sregs, xsave, fpu, xcrs, debug, lapic, msrs, events, cpuid, tscKhz);
    }

    /**
     * KVM_GET_MSRS stops at the first MSR it cannot read (some on the index list depend on CPUID
     * features the guest lacks); such an MSR has no state to carry, so it is left out and the rest
     * read on.
     */
    private List<MsrEntry> readMsrs(VcpuFd fd) {
        List<MsrEntry> out = new ArrayList<>();
        int[] rest = msrIndexList;
        while (rest.length > 0) {
            List<MsrEntry> got = fd.getMsrs(rest);
            out.addAll(got);
            int skip = got.size() + 1; // the one KVM refused
            rest = skip >= rest.length ? new int[0] : java.util.Arrays.copyOfRange(rest, skip, rest.length);
        }
        return out;
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
                restoreVcpu(fd, v);
                return null;
            });
        }
        serial.restore(s.serial());
    }

    private void restoreVcpu(VcpuFd fd, VcpuState v) {
        // The guest's TSC rate before anything TSC-relative (the TSC and TSC deadline MSRs).
        int hereKhz;
        try {
            hereKhz = fd.getTscKhz();
        } catch (io.d3vm.kvm.KvmException e) {
            hereKhz = 0;
        }
        if (tscNeedsScaling(v.tscKhz(), hereKhz)) {
            if (!canScaleTsc) {
                throw new IllegalStateException(String.format("the guest's TSC ran at %d kHz, this host's at %d kHz, and"
                        + " KVM here cannot scale it (no KVM_CAP_TSC_CONTROL): migrate between hosts of one CPU model",
                        v.tscKhz(), hereKhz));
            }
            fd.setTscKhz(v.tscKhz());
        }
        // CPUID first: MSR and XSAVE restores check features against it, and SET_MP_STATE depends
        // on the vCPU being (or not being) the BSP, which CPUID-derived state decides.
        fd.setCpuid2(v.cpuid());
        fd.setMpState(v.mpState());
        // SET_REGS clears pending exceptions, so it comes before SET_VCPU_EVENTS, which restores them.
        fd.setRegs(v.regs());
        fd.setSregs(v.sregs());
        if (v.xsave() != null) {
            fd.setXsave(v.xsave());
        } else {
            fd.setFpu(v.fpu());
        }
        if (v.xcrs() != null) {
            fd.setXcrs(v.xcrs());
        }
        fd.setDebugRegs(v.debugRegs());
        // SET_LAPIC after SET_SREGS (which restores the APIC base MSR and may reset the LAPIC),
        // and before SET_MSRS (the TSC deadline MSR only restores into a configured LAPIC).
        fd.setLapic(v.lapic());
        // The list keeps IA32_TSC before IA32_TSC_DEADLINE (orderMsrs): the deadline is relative to it.
        int set = fd.setMsrs(v.msrs());
        if (set != v.msrs().size()) {
            throw new IllegalStateException(String.format("KVM_SET_MSRS on vCPU %d stopped at MSR 0x%x (%d of %d set)",
                    v.id(), v.msrs().get(set).index(), set, v.msrs().size()));
        }
        // VCPU_EVENTS last: pending exceptions, NMIs and interrupt shadow on top of everything else.
        fd.setVcpuEvents(v.events());
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
        end(new VmOutcome.Stopped("closed by the VMM"));
        for (Vcpu v : vcpus) {
            v.join();
        }
        stopDirtyLogging();
        vmFd.close();
        memory.close();
    }
}
