package io.d3vm.vmm.devices;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * The x86 I/O port space: port ranges mapped to {@link PioDevice}s. The vCPU loop sends every
 * {@code KVM_EXIT_IO} here. A port no device claims reads as all ones (like an empty ISA bus) and
 * ignores writes; such accesses are counted ({@link #unclaimedAccesses()}) for debugging, never
 * fatal, because guests probe hardware that isn't there.
 */
public final class IoBus {
    private record Mapping(int base, int length, PioDevice device) {}

    private final TreeMap<Integer, Mapping> ranges = new TreeMap<>();
    private final LongAdder unclaimed = new LongAdder();
    private volatile int lastUnclaimedPort = -1;

    /** Claims ports {@code [base, base+length)}; ranges may not overlap. Called while building the VM. */
    public synchronized void register(int base, int length, PioDevice device) {
        if (base < 0 || length <= 0 || base + length > 0x10000) {
            throw new IllegalArgumentException("port range 0x" + Integer.toHexString(base) + "+" + length + " outside 0..0xffff");
        }
        Map.Entry<Integer, Mapping> below = ranges.floorEntry(base + length - 1);
        if (below != null && below.getValue().base() + below.getValue().length() > base) {
            throw new IllegalArgumentException("port range 0x" + Integer.toHexString(base) + "+" + length
                    + " overlaps a device at 0x" + Integer.toHexString(below.getKey()));
        }
        ranges.put(base, new Mapping(base, length, device));
    }

    private Mapping find(int port) {
        Map.Entry<Integer, Mapping> e = ranges.floorEntry(port);
        if (e == null) {
            return null;
        }
        Mapping m = e.getValue();
        return port < m.base() + m.length() ? m : null;
    }

    /** An IN of {@code size} bytes from {@code port}. */
    public int read(int port, int size) {
        Mapping m = find(port);
        if (m == null) {
            unclaimed.increment();
            lastUnclaimedPort = port;
            return size == 4 ? 0xffffffff : (1 << (size * 8)) - 1;
        }
        return m.device().read(port - m.base(), size);
    }

    /** An OUT of {@code size} bytes to {@code port}. */
    public void write(int port, int size, int value) {
        Mapping m = find(port);
        if (m == null) {
            unclaimed.increment();
            lastUnclaimedPort = port;
            return;
        }
        m.device().write(port - m.base(), size, value);
    }

    /** How many accesses hit a port no device claims. */
    public long unclaimedAccesses() {
        return unclaimed.sum();
    }

    /** The last unclaimed port accessed, or -1. */
    public int lastUnclaimedPort() {
        return lastUnclaimedPort;
    }
}
