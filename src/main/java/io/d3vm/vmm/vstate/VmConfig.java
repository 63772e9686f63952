package io.d3vm.vmm.vstate;

import io.d3vm.memory.MemoryLayout;

import java.io.OutputStream;
import java.util.Objects;

/**
 * What a {@link Vm} is built from, validated once here.
 *
 * @param layout      guest-physical RAM ({@link X86Layout#forMemory})
 * @param vcpus       number of vCPUs (1..{@link #MAX_VCPUS})
 * @param serialOut   where the guest's COM1 output goes (stdout, a log, a test buffer)
 * @param description what {@code Migratable.describe()} returns (e.g. {@code test:verify,mem=1G})
 * @param debugconOut where bytes written to the ISA debug port 0xe9 go, or null for no such device
 *                    (the port then reads as absent, as on a PC without it)
 */
public record VmConfig(MemoryLayout layout, int vcpus, OutputStream serialOut, String description, OutputStream debugconOut) {
    public static final int MAX_VCPUS = io.d3vm.vmm.persist.MachineState.MAX_VCPUS;

    /** A VM without a debug console. */
    public VmConfig(MemoryLayout layout, int vcpus, OutputStream serialOut, String description) {
        this(layout, vcpus, serialOut, description, null);
    }

    public VmConfig {
        Objects.requireNonNull(layout, "layout");
        Objects.requireNonNull(serialOut, "serialOut");
        Objects.requireNonNull(description, "description");
        if (vcpus < 1 || vcpus > MAX_VCPUS) {
            throw new IllegalArgumentException("vCPU count must be 1.." + MAX_VCPUS + ", got " + vcpus);
        }
    }
}
