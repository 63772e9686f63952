package io.d3vm.kvm;

/**
 * {@code struct kvm_irqchip}: the state of one in-kernel interrupt controller — {@link #PIC_MASTER},
 * {@link #PIC_SLAVE} or {@link #IOAPIC} — as its 512-byte union, kept whole.
 */
public record IrqchipState(int chipId, Blob data) {
    public static final int PIC_MASTER = 0;
    public static final int PIC_SLAVE = 1;
    public static final int IOAPIC = 2;

    public IrqchipState {
        if (chipId < PIC_MASTER || chipId > IOAPIC) {
            throw new IllegalArgumentException("irqchip id must be 0 (PIC master), 1 (PIC slave) or 2 (IOAPIC), got " + chipId);
        }
        if (data.length() != Structs.IRQCHIP_DATA_SIZE) {
            throw new IllegalArgumentException("kvm_irqchip data is " + Structs.IRQCHIP_DATA_SIZE + " bytes, got " + data.length());
        }
    }
}
