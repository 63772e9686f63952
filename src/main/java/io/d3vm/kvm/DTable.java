package io.d3vm.kvm;

/** {@code struct kvm_dtable}: the base and limit of the GDT or IDT. */
public record DTable(long base, int limit) {
}
