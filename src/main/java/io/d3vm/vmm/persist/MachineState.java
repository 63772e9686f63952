package io.d3vm.vmm.persist;

import io.d3vm.vmm.devices.SerialState;

import java.util.List;

/**
 * Everything of a paused VM but its memory: VM-wide state, every vCPU, and the devices d3vm
 * emulates in user space. What {@code Migratable.saveState()} returns, encoded by {@link StateCodec}.
 */
public record MachineState(VmState vm, List<VcpuState> vcpus, SerialState serial) {
    /** The most vCPUs a VM has (and so a saved state holds). */
    public static final int MAX_VCPUS = 64;

    public MachineState {
        vcpus = List.copyOf(vcpus);
        if (vcpus.isEmpty() || vcpus.size() > MAX_VCPUS) {
            throw new IllegalArgumentException("a machine state holds 1.." + MAX_VCPUS + " vCPUs, not " + vcpus.size());
        }
        for (int i = 0; i < vcpus.size(); i++) {
            if (vcpus.get(i).id() != i) {
                throw new IllegalArgumentException("vCPU states must be in id order 0..n-1; position " + i
                        + " holds vCPU " + vcpus.get(i).id());
            }
        }
        java.util.Objects.requireNonNull(vm, "vm");
        java.util.Objects.requireNonNull(serial, "serial");
    }
}
