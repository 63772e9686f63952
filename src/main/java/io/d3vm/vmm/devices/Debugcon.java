package io.d3vm.vmm.devices;

import java.io.IOException;
import java.io.OutputStream;

/**
 * The ISA debug console at port 0xe9, as QEMU's {@code isa-debugcon}: every byte the guest writes
 * goes straight to {@code out}, unbuffered, from the vCPU thread that wrote it, so a reader on the
 * host side of a pipe sees each byte when the guest wrote it. The test guest's {@code heartbeat=1}
 * writes one byte per PIT tick; the bench timestamps them to measure the pause the guest lived
 * through across a migration, the same way for d3vm and QEMU. Reads return 0xe9 (QEMU's
 * "debugcon present" answer). A failing output (the reader went away) is dropped, never fatal: the
 * guest must not depend on who listens.
 */
public final class Debugcon implements PioDevice {
    public static final int PORT = 0xe9;

    private final OutputStream out;
    private volatile boolean broken;

    public Debugcon(OutputStream out) {
        this.out = out;
    }

    @Override
    public int read(int offset, int size) {
        return PORT;
    }

    @Override
    public void write(int offset, int size, int value) {
        if (broken) {
            return;
        }
        try {
            out.write(value & 0xff);
        } catch (IOException e) {
            broken = true;
        }
    }
}
