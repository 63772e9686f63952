package io.d3vm.vmm.persist;

import io.d3vm.kvm.ClockData;
import io.d3vm.kvm.IrqchipState;
import io.d3vm.kvm.PitState2;

/**
 * Saved state of the VM-wide in-kernel devices: the two 8259 PICs, the IOAPIC, the 8254 PIT and
 * kvmclock. Immutable, no behaviour.
 */
public record VmState(IrqchipState picMaster, IrqchipState picSlave, IrqchipState ioapic, PitState2 pit,
                      ClockData clock) {
    public VmState {
        if (picMaster.chipId() != IrqchipState.PIC_MASTER || picSlave.chipId() != IrqchipState.PIC_SLAVE
                || ioapic.chipId() != IrqchipState.IOAPIC) {
            throw new IllegalArgumentException("irqchip states are not master PIC, slave PIC, IOAPIC in that order");
        }
        java.util.Objects.requireNonNull(pit, "pit");
        java.util.Objects.requireNonNull(clock, "clock");
    }
}
