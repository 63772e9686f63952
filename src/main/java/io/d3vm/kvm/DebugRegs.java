package io.d3vm.kvm;

/** {@code struct kvm_debugregs}: DR0-DR3, DR6, DR7 and flags. */
public record DebugRegs(long dr0, long dr1, long dr2, long dr3, long dr6, long dr7, long flags) {
}
