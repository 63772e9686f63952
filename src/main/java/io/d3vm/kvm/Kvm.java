package io.d3vm.kvm;

import io.d3vm.sys.LibC;
import io.d3vm.sys.SysException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;

/**
 * An open {@code /dev/kvm}: the system ioctls (API version, capabilities, supported CPUID, MSR
 * list) and {@link #createVm()}. One per VMM process; the {@code vmm} package holds it.
 */
public final class Kvm implements AutoCloseable {
    public static final String DEFAULT_PATH = "/dev/kvm";
    public static final int API_VERSION = 12;
    private static final int MAX_CPUID_ENTRIES = 256;
    private static final int MAX_MSRS = 1024;

    private final int fd;
    private final String path;
    private boolean closed;

    private Kvm(int fd, String path) {
        this.fd = fd;
        this.path = path;
    }

    /**
     * Opens {@code path} and checks the API version.
     *
     * @throws KvmUnavailableException when the device is missing, not accessible, or speaks
     *                                 another API version; the message says what to do
     */
    public static Kvm open(String path) {
        int fd;
        try {
            fd = LibC.open(path, LibC.O_RDWR | LibC.O_CLOEXEC);
        } catch (SysException e) {
            throw KvmUnavailableException.forOpen(path, e.errno());
        }
        Kvm kvm = new Kvm(fd, path);
        int version;
        try {
            version = kvm.apiVersion();
        } catch (KvmException e) {
            kvm.close();
            throw new KvmUnavailableException(path + " is not a KVM device (" + e.getMessage() + ")");
        }
        if (version != API_VERSION) {
            kvm.close();
            throw new KvmUnavailableException(path + " speaks KVM API version " + version + ", d3vm needs " + API_VERSION);
        }
        return kvm;
    }

    public static Kvm open() {
        return open(DEFAULT_PATH);
    }

    public String path() {
        return path;
    }

    /** {@code KVM_GET_API_VERSION}. */
    public int apiVersion() {
        return Fd.ioctl(fd, Ioctls.KVM_GET_API_VERSION, 0, "KVM_GET_API_VERSION");
    }

    /** {@code KVM_CHECK_EXTENSION}: 0 when absent, else a capability-specific positive value. */
    public int checkExtension(int cap) {
        return Fd.ioctl(fd, Ioctls.KVM_CHECK_EXTENSION, cap, "KVM_CHECK_EXTENSION");
    }

    /** {@code KVM_GET_VCPU_MMAP_SIZE}: bytes to mmap from a vCPU fd for its {@code kvm_run}. */
    public int vcpuMmapSize() {
        return Fd.ioctl(fd, Ioctls.KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
    }

    /** {@code KVM_GET_SUPPORTED_CPUID}: every CPUID leaf KVM can present to a guest. */
    public List<CpuidEntry> supportedCpuid() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(Structs.CPUID2_HEADER + (long) MAX_CPUID_ENTRIES * Structs.CPUID_ENTRY2_SIZE, 8);
            buf.set(JAVA_INT_UNALIGNED, 0, MAX_CPUID_ENTRIES);
            Fd.ioctl(fd, Ioctls.KVM_GET_SUPPORTED_CPUID, buf, "KVM_GET_SUPPORTED_CPUID");
            return Structs.readCpuid2(buf, MAX_CPUID_ENTRIES);
        }
    }

    /** {@code KVM_GET_MSR_INDEX_LIST}: the MSRs a VMM should save and restore. */
    public int[] msrIndexList() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(Structs.MSR_LIST_HEADER + 4L * MAX_MSRS, 8);
            buf.set(JAVA_INT_UNALIGNED, 0, MAX_MSRS);
            Fd.ioctl(fd, Ioctls.KVM_GET_MSR_INDEX_LIST, buf, "KVM_GET_MSR_INDEX_LIST");
            int n = buf.get(JAVA_INT_UNALIGNED, 0);
            if (n < 0 || n > MAX_MSRS) {
                throw new IllegalStateException("KVM_GET_MSR_INDEX_LIST returned " + n + " MSRs");
            }
            int[] list = new int[n];
            for (int i = 0; i < n; i++) {
                list[i] = buf.get(JAVA_INT_UNALIGNED, 4 + 4L * i);
            }
            return list;
        }
    }

    /** {@code KVM_CREATE_VM} (machine type 0: the default x86 VM). */
    public VmFd createVm() {
        int vmFd = Fd.ioctl(fd, Ioctls.KVM_CREATE_VM, 0, "KVM_CREATE_VM");
        return new VmFd(vmFd, vcpuMmapSize());
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            LibC.close(fd);
        }
    }
}
