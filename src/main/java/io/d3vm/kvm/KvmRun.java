package io.d3vm.kvm;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

/**
 * The vCPU's shared {@code struct kvm_run} page(s), mmapped from the vCPU fd: exit reason and
 * exit union, plus {@code immediate_exit}, which another thread may set to stop the next
 * {@code KVM_RUN} before it enters the guest. Decodes exits into {@link VcpuExit}.
 */
public final class KvmRun {
    static final int IMMEDIATE_EXIT = 1;
    static final int EXIT_REASON = 8;
    static final int IF_FLAG = 13;
    // The exit union starts at 32.
    static final int IO_DIRECTION = 32;
    static final int IO_SIZE = 33;
    static final int IO_PORT = 34;
    static final int IO_COUNT = 36;
    static final int IO_DATA_OFFSET = 40;
    static final int MMIO_PHYS_ADDR = 32;
    static final int MMIO_DATA = 40;
    static final int MMIO_LEN = 48;
    static final int MMIO_IS_WRITE = 52;
    static final int INTERNAL_SUBERROR = 32;
    static final int INTERNAL_NDATA = 36;
    static final int INTERNAL_DATA = 40;
    static final int INTERNAL_DATA_MAX = 16;
    static final int FAIL_ENTRY_REASON = 32;
    static final int FAIL_ENTRY_CPU = 40;
    static final int SYSTEM_EVENT_TYPE = 32;
    static final int SYSTEM_EVENT_NDATA = 36;
    static final int SYSTEM_EVENT_DATA = 40;
    static final int SYSTEM_EVENT_DATA_MAX = 16;
    static final int KVM_EXIT_IO_OUT = 1;

    private final MemorySegment run;

    KvmRun(MemorySegment run) {
        this.run = run;
    }

    /**
     * Sets {@code immediate_exit}: while it is 1, {@code KVM_RUN} completes a pending I/O
     * instruction and returns EINTR without entering the guest. Safe from any thread (one byte).
     */
    public void setImmediateExit(boolean on) {
        run.set(JAVA_BYTE, IMMEDIATE_EXIT, (byte) (on ? 1 : 0));
    }

    public int exitReason() {
        return run.get(JAVA_INT_UNALIGNED, EXIT_REASON);
    }

    /** Whether the guest had interrupts enabled at the exit. */
    public boolean interruptsEnabled() {
        return run.get(JAVA_BYTE, IF_FLAG) != 0;
    }

    VcpuExit decode() {
        int reason = exitReason();
        return switch (reason) {
            case VcpuExit.KVM_EXIT_IO -> decodeIo();
            case VcpuExit.KVM_EXIT_MMIO -> {
                int len = run.get(JAVA_INT_UNALIGNED, MMIO_LEN);
                if (len < 1 || len > 8) {
                    throw new IllegalStateException("KVM_EXIT_MMIO with length " + len + " (1..8 expected)");
                }
                yield new VcpuExit.Mmio(run.get(JAVA_LONG_UNALIGNED, MMIO_PHYS_ADDR),
                        run.get(JAVA_BYTE, MMIO_IS_WRITE) != 0, run.asSlice(MMIO_DATA, len));
            }
            case VcpuExit.KVM_EXIT_HLT -> new VcpuExit.Hlt();
            case VcpuExit.KVM_EXIT_SHUTDOWN -> new VcpuExit.Shutdown();
            case VcpuExit.KVM_EXIT_INTERNAL_ERROR -> new VcpuExit.InternalError(
                    run.get(JAVA_INT_UNALIGNED, INTERNAL_SUBERROR),
                    longs(INTERNAL_NDATA, INTERNAL_DATA, INTERNAL_DATA_MAX));
            case VcpuExit.KVM_EXIT_FAIL_ENTRY -> new VcpuExit.FailEntry(
                    run.get(JAVA_LONG_UNALIGNED, FAIL_ENTRY_REASON), run.get(JAVA_INT_UNALIGNED, FAIL_ENTRY_CPU));
            case VcpuExit.KVM_EXIT_SYSTEM_EVENT -> new VcpuExit.SystemEvent(
                    run.get(JAVA_INT_UNALIGNED, SYSTEM_EVENT_TYPE),
                    longs(SYSTEM_EVENT_NDATA, SYSTEM_EVENT_DATA, SYSTEM_EVENT_DATA_MAX));
            case VcpuExit.KVM_EXIT_INTR -> new VcpuExit.Intr();
            default -> new VcpuExit.Unknown(reason);
        };
    }

    private VcpuExit decodeIo() {
        int direction = run.get(JAVA_BYTE, IO_DIRECTION);
        int size = run.get(JAVA_BYTE, IO_SIZE) & 0xff;
        int port = run.get(JAVA_SHORT_UNALIGNED, IO_PORT) & 0xffff;
        int count = run.get(JAVA_INT_UNALIGNED, IO_COUNT);
        long dataOffset = run.get(JAVA_LONG_UNALIGNED, IO_DATA_OFFSET);
        long bytes = (long) size * count;
        // The kernel fills these, but a bad offset would make us touch memory outside the mapping.
        if ((size != 1 && size != 2 && size != 4) || count < 1 || dataOffset < 0 || dataOffset > run.byteSize()
                || bytes > run.byteSize() - dataOffset) {
            throw new IllegalStateException("KVM_EXIT_IO with size " + size + ", count " + count
                    + ", data offset " + dataOffset + " outside kvm_run of " + run.byteSize() + " bytes");
        }
        MemorySegment data = run.asSlice(dataOffset, bytes);
        return direction == KVM_EXIT_IO_OUT
                ? new VcpuExit.IoOut(port, size, count, data)
                : new VcpuExit.IoIn(port, size, count, data);
    }

    private long[] longs(int countOffset, int dataOffset, int max) {
        int n = run.get(JAVA_INT_UNALIGNED, countOffset);
        n = Math.max(0, Math.min(n, max));
        long[] v = new long[n];
        for (int i = 0; i < n; i++) {
            v[i] = run.get(JAVA_LONG_UNALIGNED, dataOffset + i * 8L);
        }
        return v;
    }
}
