package io.d3vm.kvm;

import io.d3vm.sys.LibC;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * A KVM vCPU file descriptor with its mmapped {@code kvm_run}: {@link #run()} and one get/set pair
 * per piece of vCPU state. Used by {@code io.d3vm.vmm.vstate.Vcpu} on the vCPU's own thread.
 */
public final class VcpuFd implements AutoCloseable {
    private static final int MAX_CPUID_ENTRIES = 256;

    private final int fd;
    private final int id;
    private final MemorySegment runMapping;
    private final KvmRun run;
    private boolean closed;

    VcpuFd(int fd, int id, MemorySegment runMapping) {
        this.fd = fd;
        this.id = id;
        this.runMapping = runMapping;
        this.run = new KvmRun(runMapping);
    }

    public int id() {
        return id;
    }

    /** The shared {@code kvm_run} (for {@code immediate_exit} from a pausing thread). */
    public KvmRun kvmRun() {
        return run;
    }

    /**
     * {@code KVM_RUN}: runs the guest until an exit KVM hands to user space. EINTR/EAGAIN (a
     * signal, or {@code immediate_exit}) come back as {@link VcpuExit.Interrupted}.
     */
    public VcpuExit run() {
        int rc = LibC.ioctlRaw(fd, Ioctls.KVM_RUN, 0L);
        if (rc < 0) {
            if (-rc == LibC.EINTR || -rc == LibC.EAGAIN) {
                return VcpuExit.Interrupted.INSTANCE;
            }
            throw new KvmException("KVM_RUN", -rc);
        }
        return run.decode();
    }

    public Regs getRegs() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(Structs.REGS_SIZE, 8);
            Fd.ioctl(fd, Ioctls.KVM_GET_REGS, m, "KVM_GET_REGS");
            return Structs.readRegs(m);
        }
    }

    public void setRegs(Regs regs) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(Structs.REGS_SIZE, 8);
            Structs.writeRegs(m, regs);
            Fd.ioctl(fd, Ioctls.KVM_SET_REGS, m, "KVM_SET_REGS");
        }
    }

    public Sregs getSregs() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(Structs.SREGS_SIZE, 8);
            Fd.ioctl(fd, Ioctls.KVM_GET_SREGS, m, "KVM_GET_SREGS");
            return Structs.readSregs(m);
        }
    }

    public void setSregs(Sregs sregs) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(Structs.SREGS_SIZE, 8);
            Structs.writeSregs(m, sregs);
            Fd.ioctl(fd, Ioctls.KVM_SET_SREGS, m, "KVM_SET_SREGS");
        }
    }

    public Fpu getFpu() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(Structs.FPU_SIZE, 16);
            Fd.ioctl(fd, Ioctls.KVM_GET_FPU, m, "KVM_GET_FPU");
            return new Fpu(Structs.readBlob(m, 0, Structs.FPU_SIZE));
        }
    }

    public void setFpu(Fpu fpu) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(Structs.FPU_SIZE, 16);
            Structs.writeBlob(m, 0, fpu.raw());
            Fd.ioctl(fd, Ioctls.KVM_SET_FPU, m, "KVM_SET_FPU");
        }
    }

    /**
     * {@code KVM_GET_XSAVE}, or {@code KVM_GET_XSAVE2} when {@code size} (from
     * {@code KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2)}) exceeds the 4 KiB legacy struct.
     */
    public Xsave getXsave(int size) {
        int n = Math.max(size, Structs.XSAVE_SIZE);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(n, 64);
            if (n > Structs.XSAVE_SIZE) {
                Fd.ioctl(fd, Ioctls.KVM_GET_XSAVE2, m, "KVM_GET_XSAVE2");
            } else {
                Fd.ioctl(fd, Ioctls.KVM_GET_XSAVE, m, "KVM_GET_XSAVE");
            }
            return new Xsave(Structs.readBlob(m, 0, n));
        }
    }

    public void setXsave(Xsave xsave) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(xsave.region().length(), 64);
            Structs.writeBlob(m, 0, xsave.region());
            Fd.ioctl(fd, Ioctls.KVM_SET_XSAVE, m, "KVM_SET_XSAVE");
        }
    }

    public Xcrs getXcrs() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(Structs.XCRS_SIZE, 8);
            Fd.ioctl(fd, Ioctls.KVM_GET_XCRS, m, "KVM_GET_XCRS");
            return Structs.readXcrs(m);
        }
    }

    public void setXcrs(Xcrs xcrs) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(Structs.XCRS_SIZE, 8);
            Structs.writeXcrs(m, xcrs);
            Fd.ioctl(fd, Ioctls.KVM_SET_XCRS, m, "KVM_SET_XCRS");
        }
    }

    public DebugRegs getDebugRegs() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(Structs.DEBUGREGS_SIZE, 8);
            Fd.ioctl(fd, Ioctls.KVM_GET_DEBUGREGS, m, "KVM_GET_DEBUGREGS");
            return Structs.readDebugRegs(m);
        }
    }

    public void setDebugRegs(DebugRegs regs) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(Structs.DEBUGREGS_SIZE, 8);
            Structs.writeDebugRegs(m, regs);
            Fd.ioctl(fd, Ioctls.KVM_SET_DEBUGREGS, m, "KVM_SET_DEBUGREGS");
        }
    }

    public LapicState getLapic() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(Structs.LAPIC_SIZE, 8);
            Fd.ioctl(fd, Ioctls.KVM_GET_LAPIC, m, "KVM_GET_LAPIC");
            return new LapicState(Structs.readBlob(m, 0, Structs.LAPIC_SIZE));
        }
    }

    public void setLapic(LapicState lapic) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(Structs.LAPIC_SIZE, 8);
            Structs.writeBlob(m, 0, lapic.regs());
            Fd.ioctl(fd, Ioctls.KVM_SET_LAPIC, m, "KVM_SET_LAPIC");
        }
    }

    /**
     * {@code KVM_GET_MSRS}: reads the MSRs in {@code indices}, in order. KVM stops at the first
     * MSR it cannot read; the result then holds only the ones before it (callers compare sizes).
     */
    public List<MsrEntry> getMsrs(int[] indices) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(Structs.MSRS_HEADER + (long) indices.length * Structs.MSR_ENTRY_SIZE, 8);
            m.fill((byte) 0);
            m.set(JAVA_INT_UNALIGNED, 0, indices.length);
            for (int i = 0; i < indices.length; i++) {
                m.set(JAVA_INT_UNALIGNED, Structs.MSRS_HEADER + (long) i * Structs.MSR_ENTRY_SIZE, indices[i]);
            }
            int n = Fd.ioctl(fd, Ioctls.KVM_GET_MSRS, m, "KVM_GET_MSRS");
            if (n > indices.length) {
                throw new IllegalStateException("KVM_GET_MSRS read " + n + " of " + indices.length + " MSRs");
            }
            List<MsrEntry> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                long off = Structs.MSRS_HEADER + (long) i * Structs.MSR_ENTRY_SIZE;
                out.add(new MsrEntry(m.get(JAVA_INT_UNALIGNED, off), m.get(JAVA_LONG_UNALIGNED, off + 8)));
            }
            return out;
        }
    }

    /** {@code KVM_SET_MSRS}: returns how many were set (KVM stops at the first it rejects). */
    public int setMsrs(List<MsrEntry> entries) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(Structs.MSRS_HEADER + (long) entries.size() * Structs.MSR_ENTRY_SIZE, 8);
            m.fill((byte) 0);
            m.set(JAVA_INT_UNALIGNED, 0, entries.size());
            for (int i = 0; i < entries.size(); i++) {
                long off = Structs.MSRS_HEADER + (long) i * Structs.MSR_ENTRY_SIZE;
                m.set(JAVA_INT_UNALIGNED, off, entries.get(i).index());
                m.set(JAVA_LONG_UNALIGNED, off + 8, entries.get(i).data());
            }
            return Fd.ioctl(fd, Ioctls.KVM_SET_MSRS, m, "KVM_SET_MSRS");
        }
    }

    /** {@code KVM_GET_MP_STATE}: {@code KVM_MP_STATE_RUNNABLE} (0), UNINITIALIZED (1), HALTED (3), ... */
    public int getMpState() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(4, 4);
            Fd.ioctl(fd, Ioctls.KVM_GET_MP_STATE, m, "KVM_GET_MP_STATE");
            return m.get(JAVA_INT_UNALIGNED, 0);
        }
    }

    public void setMpState(int state) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(4, 4);
            m.set(JAVA_INT_UNALIGNED, 0, state);
            Fd.ioctl(fd, Ioctls.KVM_SET_MP_STATE, m, "KVM_SET_MP_STATE");
        }
    }

    public VcpuEvents getVcpuEvents() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(Structs.VCPU_EVENTS_SIZE, 8);
            m.fill((byte) 0);
            Fd.ioctl(fd, Ioctls.KVM_GET_VCPU_EVENTS, m, "KVM_GET_VCPU_EVENTS");
            return new VcpuEvents(Structs.readBlob(m, 0, Structs.VCPU_EVENTS_SIZE));
        }
    }

    public void setVcpuEvents(VcpuEvents events) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(Structs.VCPU_EVENTS_SIZE, 8);
            Structs.writeBlob(m, 0, events.raw());
            Fd.ioctl(fd, Ioctls.KVM_SET_VCPU_EVENTS, m, "KVM_SET_VCPU_EVENTS");
        }
    }

    /** {@code KVM_SET_CPUID2}: what CPUID returns in this vCPU. */
    public void setCpuid2(List<CpuidEntry> entries) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(Structs.CPUID2_HEADER + (long) entries.size() * Structs.CPUID_ENTRY2_SIZE, 8);
            m.fill((byte) 0);
            m.set(JAVA_INT_UNALIGNED, 0, entries.size());
            for (int i = 0; i < entries.size(); i++) {
                Structs.writeCpuidEntry(m, Structs.CPUID2_HEADER + (long) i * Structs.CPUID_ENTRY2_SIZE, entries.get(i));
            }
            Fd.ioctl(fd, Ioctls.KVM_SET_CPUID2, m, "KVM_SET_CPUID2");
        }
    }

    /** {@code KVM_GET_CPUID2}: the CPUID table set on this vCPU. */
    public List<CpuidEntry> getCpuid2() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(Structs.CPUID2_HEADER + (long) MAX_CPUID_ENTRIES * Structs.CPUID_ENTRY2_SIZE, 8);
            m.fill((byte) 0);
            m.set(JAVA_INT_UNALIGNED, 0, MAX_CPUID_ENTRIES);
            Fd.ioctl(fd, Ioctls.KVM_GET_CPUID2, m, "KVM_GET_CPUID2");
            return Structs.readCpuid2(m, MAX_CPUID_ENTRIES);
        }
    }

    /** {@code KVM_GET_TSC_KHZ}: the guest TSC frequency. */
    public int getTscKhz() {
        return Fd.ioctl(fd, Ioctls.KVM_GET_TSC_KHZ, 0, "KVM_GET_TSC_KHZ");
    }

    /** {@code KVM_SET_TSC_KHZ}: the guest TSC frequency (needs {@code KVM_CAP_TSC_CONTROL}). */
    public void setTscKhz(int khz) {
        Fd.ioctl(fd, Ioctls.KVM_SET_TSC_KHZ, khz, "KVM_SET_TSC_KHZ");
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            LibC.munmap(runMapping);
            LibC.close(fd);
        }
    }
}
