package io.d3vm.kvm;

/** {@code struct kvm_segment}: one segment register in its cached (descriptor) form. */
public record Segment(long base, int limit, int selector, int type, int present, int dpl, int db, int s,
                      int l, int g, int avl, int unusable) {
}
