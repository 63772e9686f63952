package io.d3vm.vmm.devices;

/**
 * A device on the x86 I/O port bus. {@link IoBus} calls it from vCPU threads with the offset of
 * the port inside the device's range; implementations synchronize their own state.
 */
public interface PioDevice {
    /** An IN of {@code size} bytes (1, 2 or 4); returns the value the guest reads. */
    int read(int offset, int size);

    /** An OUT of {@code size} bytes (1, 2 or 4). */
    void write(int offset, int size, int value);
}
