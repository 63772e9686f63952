package io.d3vm.kvm;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Why {@code KVM_RUN} returned, decoded from the vCPU's mmapped {@code struct kvm_run} by
 * {@link VcpuFd#run()}. The VMM's vCPU loop switches over it.
 *
 * <p>The {@code data} segments of the I/O and MMIO exits are views into {@code kvm_run}: valid
 * only until the next {@code KVM_RUN}; an IN / MMIO read handler fills them with the value the
 * guest reads.
 */
public sealed interface VcpuExit {

    int KVM_EXIT_UNKNOWN = 0;
    int KVM_EXIT_EXCEPTION = 1;
    int KVM_EXIT_IO = 2;
    int KVM_EXIT_HYPERCALL = 3;
    int KVM_EXIT_DEBUG = 4;
    int KVM_EXIT_HLT = 5;
    int KVM_EXIT_MMIO = 6;
    int KVM_EXIT_IRQ_WINDOW_OPEN = 7;
    int KVM_EXIT_SHUTDOWN = 8;
    int KVM_EXIT_FAIL_ENTRY = 9;
    int KVM_EXIT_INTR = 10;
    int KVM_EXIT_INTERNAL_ERROR = 17;
    int KVM_EXIT_SYSTEM_EVENT = 24;

    /** {@code KVM_RUN} returned EINTR/EAGAIN: a signal or {@code immediate_exit} stopped it. */
    record Interrupted() implements VcpuExit {
        static final Interrupted INSTANCE = new Interrupted();
    }

    /** Port input: {@code count} items of {@code size} bytes to place in {@code data}. */
    record IoIn(int port, int size, int count, MemorySegment data) implements VcpuExit {}

    /** Port output: {@code count} items of {@code size} bytes the guest wrote, in {@code data}. */
    record IoOut(int port, int size, int count, MemorySegment data) implements VcpuExit {}

    /** An access to guest-physical memory no memslot backs. */
    record Mmio(long address, boolean isWrite, MemorySegment data) implements VcpuExit {}

    /** The guest executed {@code hlt} (only seen without an in-kernel irqchip). */
    record Hlt() implements VcpuExit {}

    /** Triple fault (or a similar reset condition). */
    record Shutdown() implements VcpuExit {}

    /** KVM could not emulate or deliver something; {@code suberror} is {@code KVM_INTERNAL_ERROR_*}. */
    record InternalError(int suberror, long[] data) implements VcpuExit {
        public InternalError {
            data = data.clone();
        }

        @Override
        public long[] data() {
            return data.clone();
        }

        public String describe() {
            String kind = switch (suberror) {
                case 1 -> "emulation failure";
                case 2 -> "exception while delivering an exception (simultaneous exceptions)";
                case 3 -> "error while delivering an event";
                case 4 -> "unexpected exit reason";
                default -> "suberror " + suberror;
            };
            StringBuilder sb = new StringBuilder(kind);
            String insn = instructionBytes();
            if (insn != null) {
                return sb.append(" of instruction bytes [").append(insn).append(']').toString();
            }
            if (data.length > 0) {
                sb.append(" data=[");
                for (int i = 0; i < data.length; i++) {
                    sb.append(i == 0 ? "" : ", ").append("0x").append(Long.toHexString(data[i]));
                }
                sb.append(']');
            }
            return sb.toString();
        }

        /**
         * For an emulation failure with {@code KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES}
         * (data[0] bit 0), the bytes at the failing RIP: the union continues {@code u8 insn_size,
         * u8 insn_bytes[15]} from data[1]. Null when KVM did not include them.
         */
        public String instructionBytes() {
            if (suberror != 1 || data.length < 3 || (data[0] & 1) == 0) {
                return null;
            }
            byte[] raw = new byte[(data.length - 1) * 8];
            for (int i = 1; i < data.length; i++) {
                for (int b = 0; b < 8; b++) {
                    raw[(i - 1) * 8 + b] = (byte) (data[i] >>> (8 * b));
                }
            }
            int size = Math.min(raw[0] & 0xff, Math.min(15, raw.length - 1));
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < size; i++) {
                sb.append(i == 0 ? "" : " ").append(String.format("%02x", raw[1 + i] & 0xff));
            }
            return sb.toString();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof InternalError x && x.suberror == suberror && Arrays.equals(x.data, data);
        }

        @Override
        public int hashCode() {
            return suberror * 31 + Arrays.hashCode(data);
        }
    }

    /** VM entry failed; {@code reason} is the hardware's entry-failure code. */
    record FailEntry(long reason, int cpu) implements VcpuExit {}

    /** {@code KVM_SYSTEM_EVENT_*}: shutdown (1), reset (2), crash (3), ... */
    record SystemEvent(int type, long[] data) implements VcpuExit {
        public static final int SHUTDOWN = 1;
        public static final int RESET = 2;
        public static final int CRASH = 3;

        public SystemEvent {
            data = data.clone();
        }

        @Override
        public long[] data() {
            return data.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof SystemEvent x && x.type == type && Arrays.equals(x.data, data);
        }

        @Override
        public int hashCode() {
            return type * 31 + Arrays.hashCode(data);
        }
    }

    /** {@code KVM_EXIT_INTR}: a signal arrived while the guest ran. */
    record Intr() implements VcpuExit {}

    /** An exit reason d3vm does not handle. */
    record Unknown(int reason) implements VcpuExit {}

    /** A short name of the exit reason number, for error messages. */
    static String reasonName(int reason) {
        return switch (reason) {
            case KVM_EXIT_UNKNOWN -> "KVM_EXIT_UNKNOWN";
            case KVM_EXIT_EXCEPTION -> "KVM_EXIT_EXCEPTION";
            case KVM_EXIT_IO -> "KVM_EXIT_IO";
            case KVM_EXIT_HYPERCALL -> "KVM_EXIT_HYPERCALL";
            case KVM_EXIT_DEBUG -> "KVM_EXIT_DEBUG";
            case KVM_EXIT_HLT -> "KVM_EXIT_HLT";
            case KVM_EXIT_MMIO -> "KVM_EXIT_MMIO";
            case KVM_EXIT_IRQ_WINDOW_OPEN -> "KVM_EXIT_IRQ_WINDOW_OPEN";
            case KVM_EXIT_SHUTDOWN -> "KVM_EXIT_SHUTDOWN";
            case KVM_EXIT_FAIL_ENTRY -> "KVM_EXIT_FAIL_ENTRY";
            case KVM_EXIT_INTR -> "KVM_EXIT_INTR";
            case KVM_EXIT_INTERNAL_ERROR -> "KVM_EXIT_INTERNAL_ERROR";
            case KVM_EXIT_SYSTEM_EVENT -> "KVM_EXIT_SYSTEM_EVENT";
            default -> "exit reason " + reason;
        };
    }
}
