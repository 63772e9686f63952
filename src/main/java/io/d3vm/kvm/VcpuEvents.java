package io.d3vm.kvm;

/**
 * {@code struct kvm_vcpu_events} (64 bytes): pending exception, interrupt, NMI, SIPI and SMI
 * state, kept whole so that every field (including ones newer kernels add) crosses unchanged.
 */
public record VcpuEvents(Blob raw) {
    public VcpuEvents {
        if (raw.length() != Structs.VCPU_EVENTS_SIZE) {
            throw new IllegalArgumentException("kvm_vcpu_events is " + Structs.VCPU_EVENTS_SIZE + " bytes, got " + raw.length());
        }
    }

    /** Whether an exception is injected (byte 0 of the exception sub-struct). */
    public boolean exceptionInjected() {
        return raw.u8(0) != 0;
    }

    /** Whether an NMI is pending (nmi.pending, offset 13). */
    public boolean nmiPending() {
        return raw.u8(13) != 0;
    }
}
