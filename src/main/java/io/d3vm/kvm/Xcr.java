package io.d3vm.kvm;

/** One {@code struct kvm_xcr}: an extended control register (XCR0 is the only one in use). */
public record Xcr(int xcr, long value) {
}
