package io.d3vm.migration.fuzz;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Seeded, structure-aware mutations of valid streams for the CI fuzz driver: most aim at frame
 * headers and the fixed fields after them (types, lengths, counts, page numbers, classes), where a
 * decoder's checks live; the rest cut, splice, duplicate and scribble anywhere. Deterministic for a
 * seed, so a failing case reproduces from its seed alone.
 */
final class StreamMutator {
    /** Values at the edges of the checks: zero, one, page and batch limits, sign and width boundaries. */
    private static final long[] INTERESTING = {
            0, 1, 2, 3, 7, 8, 15, 16, 24, 63, 64, 65, 255, 256, 511, 512, 513, 4095, 4096, 4097, 65535, 65536,
            0x7FFF_FFFFL, 0x8000_0000L, 0xFFFF_FFFFL, 0x1_0000_0000L, Long.MAX_VALUE, Long.MIN_VALUE, -1, -4096,
            1L << 20, (1L << 20) + 4096, 8 * 4096, 16 * 4096, 0x31_47_49_4D_4D_56_33_44L};

    private final Random random;

    StreamMutator(long seed) {
        this.random = new Random(seed);
    }

    /** One to four mutations of {@code seed}. */
    byte[] mutate(byte[] seed, List<byte[]> others) {
        byte[] b = seed.clone();
        int n = 1 + random.nextInt(4);
        for (int i = 0; i < n && b.length > 0; i++) {
            b = once(b, others);
        }
        return b;
    }

    private byte[] once(byte[] b, List<byte[]> others) {
        List<Integer> frames = Seeds.frameOffsets(b);
        int kind = random.nextInt(10);
        switch (kind) {
            case 0, 1, 2 -> { // a field right after a frame header, or in the header itself
                int f = frames.isEmpty() ? 0 : frames.get(random.nextInt(frames.size()));
                int at = f + random.nextInt(Math.min(8 + 48, Math.max(1, b.length - f)));
                writeInteresting(b, at);
            }
            case 3 -> writeInteresting(b, random.nextInt(b.length)); // anywhere
            case 4 -> b[random.nextInt(b.length)] ^= (byte) (1 << random.nextInt(8));
            case 5 -> { // cut the stream short
                return Arrays.copyOf(b, random.nextInt(b.length));
            }
            case 6 -> { // drop a whole frame
                if (frames.size() > 1) {
                    int i = random.nextInt(frames.size() - 1);
                    return cut(b, frames.get(i), frames.get(i + 1));
                }
            }
            case 7 -> { // repeat a whole frame (out-of-order and duplicate frames)
                if (frames.size() > 1) {
                    int i = random.nextInt(frames.size() - 1);
                    byte[] frame = Arrays.copyOfRange(b, frames.get(i), frames.get(i + 1));
                    return insert(b, frames.get(random.nextInt(frames.size())), frame);
                }
            }
            case 8 -> { // splice the tail of another stream at a frame boundary
                byte[] o = others.get(random.nextInt(others.size()));
                List<Integer> of = Seeds.frameOffsets(o);
                int from = of.isEmpty() ? 0 : of.get(random.nextInt(of.size()));
                int to = frames.isEmpty() ? 0 : frames.get(random.nextInt(frames.size()));
                byte[] out = Arrays.copyOf(b, to + o.length - from);
                System.arraycopy(o, from, out, to, o.length - from);
                return out;
            }
            default -> { // random bytes inserted
                byte[] junk = new byte[1 + random.nextInt(32)];
                random.nextBytes(junk);
                return insert(b, random.nextInt(b.length + 1), junk);
            }
        }
        return b;
    }

    private void writeInteresting(byte[] b, int at) {
        long v = random.nextInt(4) == 0 ? random.nextLong() : INTERESTING[random.nextInt(INTERESTING.length)];
        int width = new int[] {1, 2, 4, 8}[random.nextInt(4)];
        ByteBuffer bb = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v);
        for (int i = 0; i < width && at + i < b.length; i++) {
            b[at + i] = bb.get(i);
        }
    }

    private static byte[] cut(byte[] b, int from, int to) {
        byte[] out = new byte[b.length - (to - from)];
        System.arraycopy(b, 0, out, 0, from);
        System.arraycopy(b, to, out, from, b.length - to);
        return out;
    }

    private static byte[] insert(byte[] b, int at, byte[] what) {
        byte[] out = new byte[b.length + what.length];
        System.arraycopy(b, 0, out, 0, at);
        System.arraycopy(what, 0, out, at, what.length);
        System.arraycopy(b, at, out, at + what.length, b.length - at);
        return out;
    }
}
