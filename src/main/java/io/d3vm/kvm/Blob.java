package io.d3vm.kvm;

import java.util.Arrays;
import java.util.HexFormat;

/**
 * Immutable bytes of a KVM struct whose contents d3vm passes through without interpreting
 * (xsave area, LAPIC registers, FPU state, vCPU events, irqchip state). Records that hold one get
 * value equality from here.
 */
public final class Blob {
    private final byte[] bytes;

    public Blob(byte[] bytes) {
        this.bytes = bytes.clone();
    }

    public int length() {
        return bytes.length;
    }

    public byte[] toArray() {
        return bytes.clone();
    }

    /** Unsigned byte at {@code offset}. */
    public int u8(int offset) {
        return bytes[offset] & 0xff;
    }

    /** Little-endian 32-bit value at {@code offset}. */
    public int u32(int offset) {
        return (bytes[offset] & 0xff) | (bytes[offset + 1] & 0xff) << 8 | (bytes[offset + 2] & 0xff) << 16
                | (bytes[offset + 3] & 0xff) << 24;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Blob b && Arrays.equals(bytes, b.bytes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(bytes);
    }

    @Override
    public String toString() {
        int n = Math.min(bytes.length, 16);
        return "Blob[" + bytes.length + " bytes: " + HexFormat.of().formatHex(bytes, 0, n) + (n < bytes.length ? "...]" : "]");
    }
}
