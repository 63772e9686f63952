package io.d3vm.vmm.devices;

/**
 * The power-off ports of the test-guest contract, as QEMU offers them: the ACPI PM1a control
 * register at 0x604 (a 16-bit write with SLP_EN, bit 13, set: QEMU's S5 for {@code outw(0x604,
 * 0x2000)}) and the isa-debug-exit port at 0xf4 (any write). Registered twice on the bus, once per
 * port, with its {@code kind}.
 */
public final class PowerOffPorts implements PioDevice {
    public static final int ACPI_PM1A_CNT = 0x604;
    public static final int DEBUG_EXIT = 0xf4;
    private static final int SLP_EN = 1 << 13;

    public enum Kind { ACPI_PM1A, DEBUG_EXIT }

    private final Kind kind;
    private final PlatformEvents events;

    public PowerOffPorts(Kind kind, PlatformEvents events) {
        this.kind = kind;
        this.events = events;
    }

    @Override
    public int read(int offset, int size) {
        return 0;
    }

    @Override
    public void write(int offset, int size, int value) {
        switch (kind) {
            case ACPI_PM1A -> {
                if (offset == 0 && size >= 2 && (value & SLP_EN) != 0) {
                    events.powerOff("ACPI PM1a sleep (outw 0x604, 0x" + Integer.toHexString(value & 0xffff) + ")");
                }
            }
            case DEBUG_EXIT -> events.powerOff("isa-debug-exit (out 0xf4, 0x" + Integer.toHexString(value) + ")");
        }
    }
}
