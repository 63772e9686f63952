package io.d3vm.vmm.devices;

/** A device's interrupt line; the VM wires it to {@code KVM_IRQ_LINE} of the in-kernel irqchip. */
@FunctionalInterface
public interface IrqLine {
    void set(boolean level);
}
