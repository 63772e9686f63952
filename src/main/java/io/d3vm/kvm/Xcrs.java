package io.d3vm.kvm;

import java.util.List;

/** {@code struct kvm_xcrs}: up to 16 extended control registers. */
public record Xcrs(List<Xcr> xcrs, int flags) {
    public static final int MAX = 16;

    public Xcrs {
        xcrs = List.copyOf(xcrs);
        if (xcrs.size() > MAX) {
            throw new IllegalArgumentException("kvm_xcrs holds at most " + MAX + " registers, got " + xcrs.size());
        }
    }
}
