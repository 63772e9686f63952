package io.d3vm.kvm;

/** {@code struct kvm_fpu} (416 bytes), kept whole: the legacy FPU/SSE state when XSAVE is absent. */
public record Fpu(Blob raw) {
    public Fpu {
        if (raw.length() != Structs.FPU_SIZE) {
            throw new IllegalArgumentException("kvm_fpu is " + Structs.FPU_SIZE + " bytes, got " + raw.length());
        }
    }
}
