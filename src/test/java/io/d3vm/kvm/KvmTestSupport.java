package io.d3vm.kvm;

import org.junit.jupiter.api.Assumptions;

/** Opens /dev/kvm for tests tagged "kvm", or skips them with the reason printed. */
public final class KvmTestSupport {
    private static Kvm shared;
    private static String unavailable;

    private KvmTestSupport() {}

    /** A process-wide /dev/kvm handle (never closed: tests share it). */
    public static synchronized Kvm kvm() {
        if (shared == null && unavailable == null) {
            try {
                shared = Kvm.open();
            } catch (KvmUnavailableException e) {
                unavailable = e.getMessage();
                System.out.println("skipping KVM tests: " + unavailable);
            }
        }
        Assumptions.assumeTrue(shared != null, () -> "KVM unavailable: " + unavailable);
        return shared;
    }
}
