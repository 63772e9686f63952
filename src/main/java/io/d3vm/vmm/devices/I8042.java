package io.d3vm.vmm.devices;

/**
 * The smallest i8042 keyboard controller a guest's reboot needs: command 0xFE on port 0x64 pulses
 * the CPU reset line, which ends the VM (exit 0, like a power-off). Status reads say "no data,
 * input buffer empty" so a guest polling before its command never waits; data reads return 0.
 * Registered at 0x60 (length 5, covering 0x60 and 0x64; 0x61 is the in-kernel PIT's speaker port
 * and is never seen here, the rest read as 0).
 */
public final class I8042 implements PioDevice {
    public static final int BASE = 0x60;
    public static final int LENGTH = 5;
    private static final int COMMAND_OFFSET = 4;
    private static final int CMD_RESET = 0xfe;

    private final PlatformEvents events;

    public I8042(PlatformEvents events) {
        this.events = events;
    }

    @Override
    public int read(int offset, int size) {
        return 0;
    }

    @Override
    public void write(int offset, int size, int value) {
        if (offset == COMMAND_OFFSET && (value & 0xff) == CMD_RESET) {
            events.reset("i8042 reset (out 0x64, 0xfe)");
        }
    }
}
