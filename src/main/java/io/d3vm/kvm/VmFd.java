package io.d3vm.kvm;

import io.d3vm.sys.LibC;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * A KVM VM file descriptor: memslots, in-kernel irqchip and PIT, their state, kvmclock, dirty log,
 * and vCPU creation. Owned by {@code io.d3vm.vmm.vstate.Vm}.
 */
public final class VmFd implements AutoCloseable {
    /** {@code KVM_MEM_LOG_DIRTY_PAGES}: track writes to the slot for {@link #getDirtyLog}. */
    public static final int MEM_LOG_DIRTY_PAGES = 1;
    /** {@code KVM_PIT_SPEAKER_DUMMY}: a dummy speaker port 0x61 in the kernel. */
    public static final int PIT_SPEAKER_DUMMY = 1;

    private final int fd;
    private final int vcpuMmapSize;
    private boolean closed;

    VmFd(int fd, int vcpuMmapSize) {
        this.fd = fd;
        this.vcpuMmapSize = vcpuMmapSize;
    }

    /**
     * {@code KVM_SET_USER_MEMORY_REGION}: maps {@code size} bytes of host memory at
     * {@code hostAddress} as guest-physical {@code [gpa, gpa+size)} in {@code slot}. Re-registering
     * a slot with other flags (same range) switches dirty logging; size 0 deletes the slot.
     */
    public void setUserMemoryRegion(int slot, int flags, long gpa, long size, long hostAddress) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment r = arena.allocate(Structs.USER_MEMORY_REGION_SIZE, 8);
            r.set(JAVA_INT_UNALIGNED, 0, slot);
            r.set(JAVA_INT_UNALIGNED, 4, flags);
            r.set(JAVA_LONG_UNALIGNED, 8, gpa);
            r.set(JAVA_LONG_UNALIGNED, 16, size);
            r.set(JAVA_LONG_UNALIGNED, 24, hostAddress);
            Fd.ioctl(fd, Ioctls.KVM_SET_USER_MEMORY_REGION, r, "KVM_SET_USER_MEMORY_REGION");
        }
    }

    /** {@code KVM_SET_TSS_ADDR}: three pages of guest-physical space KVM may use (Intel real mode). */
    public void setTssAddr(long gpa) {
        Fd.ioctl(fd, Ioctls.KVM_SET_TSS_ADDR, gpa, "KVM_SET_TSS_ADDR");
    }

    /** {@code KVM_SET_IDENTITY_MAP_ADDR}: one page for KVM's identity map (Intel real mode). */
    public void setIdentityMapAddr(long gpa) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(8, 8);
            v.set(JAVA_LONG_UNALIGNED, 0, gpa);
            Fd.ioctl(fd, Ioctls.KVM_SET_IDENTITY_MAP_ADDR, v, "KVM_SET_IDENTITY_MAP_ADDR");
        }
    }

    /** {@code KVM_CREATE_IRQCHIP}: in-kernel PIC pair, IOAPIC and per-vCPU local APICs. */
    public void createIrqchip() {
        Fd.ioctl(fd, Ioctls.KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");
    }

    /** {@code KVM_CREATE_PIT2}: in-kernel 8254 timer on ports 0x40-0x43. */
    public void createPit2(int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cfg = arena.allocate(Structs.PIT_CONFIG_SIZE, 8);
            cfg.fill((byte) 0);
            cfg.set(JAVA_INT_UNALIGNED, 0, flags);
            Fd.ioctl(fd, Ioctls.KVM_CREATE_PIT2, cfg, "KVM_CREATE_PIT2");
        }
    }

    /** {@code KVM_IRQ_LINE}: sets the level of a GSI on the in-kernel PIC/IOAPIC. */
    public void irqLine(int irq, boolean level) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment l = arena.allocate(Structs.IRQ_LEVEL_SIZE, 8);
            l.set(JAVA_INT_UNALIGNED, 0, irq);
            l.set(JAVA_INT_UNALIGNED, 4, level ? 1 : 0);
            Fd.ioctl(fd, Ioctls.KVM_IRQ_LINE, l, "KVM_IRQ_LINE");
        }
    }

    /** {@code KVM_GET_IRQCHIP} for one chip ({@link IrqchipState#PIC_MASTER} etc.). */
    public IrqchipState getIrqchip(int chipId) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment c = arena.allocate(Structs.IRQCHIP_SIZE, 8);
            c.fill((byte) 0);
            c.set(JAVA_INT_UNALIGNED, 0, chipId);
            Fd.ioctl(fd, Ioctls.KVM_GET_IRQCHIP, c, "KVM_GET_IRQCHIP");
            return new IrqchipState(chipId, Structs.readBlob(c, Structs.IRQCHIP_DATA_OFFSET, Structs.IRQCHIP_DATA_SIZE));
        }
    }

    /** {@code KVM_SET_IRQCHIP}. */
    public void setIrqchip(IrqchipState state) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment c = arena.allocate(Structs.IRQCHIP_SIZE, 8);
            c.fill((byte) 0);
            c.set(JAVA_INT_UNALIGNED, 0, state.chipId());
            Structs.writeBlob(c, Structs.IRQCHIP_DATA_OFFSET, state.data());
            Fd.ioctl(fd, Ioctls.KVM_SET_IRQCHIP, c, "KVM_SET_IRQCHIP");
        }
    }

    /** {@code KVM_GET_PIT2}. */
    public PitState2 getPit2() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment p = arena.allocate(Structs.PIT_STATE2_SIZE, 8);
            Fd.ioctl(fd, Ioctls.KVM_GET_PIT2, p, "KVM_GET_PIT2");
            return Structs.readPit2(p);
        }
    }

    /** {@code KVM_SET_PIT2}. */
    public void setPit2(PitState2 state) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment p = arena.allocate(Structs.PIT_STATE2_SIZE, 8);
            Structs.writePit2(p, state);
            Fd.ioctl(fd, Ioctls.KVM_SET_PIT2, p, "KVM_SET_PIT2");
        }
    }

    /** {@code KVM_GET_CLOCK}: the kvmclock value in ns. */
    public ClockData getClock() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment c = arena.allocate(Structs.CLOCK_DATA_SIZE, 8);
            c.fill((byte) 0);
            Fd.ioctl(fd, Ioctls.KVM_GET_CLOCK, c, "KVM_GET_CLOCK");
            return Structs.readClock(c);
        }
    }

    /** {@code KVM_SET_CLOCK}. */
    public void setClock(ClockData clock) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment c = arena.allocate(Structs.CLOCK_DATA_SIZE, 8);
            Structs.writeClock(c, clock);
            Fd.ioctl(fd, Ioctls.KVM_SET_CLOCK, c, "KVM_SET_CLOCK");
        }
    }

    /**
     * {@code KVM_GET_DIRTY_LOG}: copies the slot's dirty bitmap (bit i = page i of the slot,
     * 64-bit words) into {@code bitmap} and clears the kernel's log. {@code bitmap} must hold
     * at least {@code ceil(pages / 64)} words.
     */
    public void getDirtyLog(int slot, MemorySegment bitmap) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment d = arena.allocate(Structs.DIRTY_LOG_SIZE, 8);
            d.set(JAVA_INT_UNALIGNED, 0, slot);
            d.set(JAVA_INT_UNALIGNED, 4, 0);
            // SAFETY: the kernel writes ceil(slot pages / 64) words at this address; the caller sized
            // `bitmap` for the slot, and the segment stays alive for the call.
            d.set(JAVA_LONG_UNALIGNED, 8, bitmap.address());
            Fd.ioctl(fd, Ioctls.KVM_GET_DIRTY_LOG, d, "KVM_GET_DIRTY_LOG");
        }
    }

    /** {@code KVM_CHECK_EXTENSION} on the VM (some answers are per VM). */
    public int checkExtension(int cap) {
        return Fd.ioctl(fd, Ioctls.KVM_CHECK_EXTENSION, cap, "KVM_CHECK_EXTENSION");
    }

    /**
     * {@code KVM_CREATE_VCPU} and the mmap of its {@code kvm_run}. KVM prefers vCPU ioctls to come
     * from one thread, so the VMM calls this on the thread that will run the vCPU.
     */
    public VcpuFd createVcpu(int id) {
        int vcpuFd = Fd.ioctl(fd, Ioctls.KVM_CREATE_VCPU, id, "KVM_CREATE_VCPU");
        MemorySegment run;
        try {
            run = LibC.mmap(vcpuMmapSize, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, vcpuFd, 0);
        } catch (RuntimeException e) {
            LibC.close(vcpuFd);
            throw e;
        }
        return new VcpuFd(vcpuFd, id, run);
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            LibC.close(fd);
        }
    }
}
