package io.d3vm.vmm.vstate;

import io.d3vm.memory.Sizes;
import io.d3vm.vmm.boot.testguest.TestGuestSpec;

import java.util.List;

/**
 * What a migration destination needs to rebuild a KVM guest of any kind from its description (the
 * handshake carries it; the memory and the vCPU state follow on the wire, so no kernel file is
 * needed there): its kind, memory size and vCPU count.
 * <ul>
 * <li>{@code test:<workload>,mem=SIZE[,vcpus=N][,...]}: the test guest ({@link TestGuestSpec})</li>
 * <li>{@code multiboot:<file>,mem=SIZE[,vcpus=N]}: a Multiboot kernel started by {@code run --kernel}</li>
 * <li>{@code linux:<file>,mem=SIZE[,vcpus=N]}: a Linux kernel started by {@code run --kernel}</li>
 * </ul>
 */
public record GuestShape(String kind, long memBytes, int vcpus) {
    public static final List<String> KINDS = List.of("test", "multiboot", "linux");

    /** @throws IllegalArgumentException saying what the description lacks */
    public static GuestShape parse(String description) {
        int colon = description.indexOf(':');
        String kind = colon < 0 ? "" : description.substring(0, colon);
        if (kind.equals("test")) {
            TestGuestSpec spec = TestGuestSpec.parse(description);
            return new GuestShape(kind, spec.memBytes(), spec.vcpus(VmConfig.MAX_VCPUS));
        }
        if (!KINDS.contains(kind)) {
            throw new IllegalArgumentException("'" + description + "' is not a KVM guest description (kinds: " + String.join(", ", KINDS) + ")");
        }
        String[] parts = description.substring(colon + 1).split(",");
        if (parts[0].isEmpty()) {
            throw new IllegalArgumentException("'" + description + "' names no kernel after " + kind + ":");
        }
        Long mem = null;
        int vcpus = 1;
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i];
            if (p.startsWith("mem=")) {
                mem = Sizes.parse(p.substring(4), 20);
            } else if (p.startsWith("vcpus=")) {
                try {
                    vcpus = Integer.parseInt(p.substring(6));
                } catch (NumberFormatException e) {
                    vcpus = -1;
                }
                if (vcpus < 1 || vcpus > VmConfig.MAX_VCPUS) {
                    throw new IllegalArgumentException(p + " in '" + description + "' is not a vCPU count 1.." + VmConfig.MAX_VCPUS);
                }
            } else {
                throw new IllegalArgumentException("'" + p + "' in '" + description + "': a " + kind + " description has mem= and vcpus=");
            }
        }
        if (mem == null) {
            throw new IllegalArgumentException("'" + description + "' has no mem=SIZE");
        }
        return new GuestShape(kind, mem, vcpus);
    }
}
