package io.d3vm.kvm;

/**
 * {@code struct kvm_xsave}: the vCPU's XSAVE area (4096 bytes, or larger with
 * {@code KVM_CAP_XSAVE2}), kept whole.
 */
public record Xsave(Blob region) {
    public Xsave {
        if (region.length() < Structs.XSAVE_SIZE || (region.length() & 3) != 0) {
            throw new IllegalArgumentException("kvm_xsave needs at least " + Structs.XSAVE_SIZE
                    + " bytes in whole 32-bit words, got " + region.length());
        }
    }
}
