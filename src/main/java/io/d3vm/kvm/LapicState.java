package io.d3vm.kvm;

/** {@code struct kvm_lapic_state}: the local APIC's 1 KiB register page, kept whole. */
public record LapicState(Blob regs) {
    /** Offset of the APIC ID register in the register page. */
    public static final int APIC_ID = 0x20;

    public LapicState {
        if (regs.length() != Structs.LAPIC_SIZE) {
            throw new IllegalArgumentException("kvm_lapic_state is " + Structs.LAPIC_SIZE + " bytes, got " + regs.length());
        }
    }
}
