package io.d3vm.vmm.boot.linux;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Builds a vmlinux-shaped ELF64 file for loader tests: PT_LOAD segments of random bytes at chosen
 * physical addresses (with bss where memsz exceeds filesz), a non-loadable note, and an entry point.
 */
public final class SyntheticVmlinux {
    record Seg(long paddr, int fileSize, long memSize) {}

    final List<Seg> segs = new ArrayList<>(List.of(new Seg(0x1000000, 40_000, 40_000), new Seg(0x1200000, 10_000, 300_000)));
    long entry = 0x1000000;
    int elfClass = 2;
    int machine = 62;
    int type = 2;
    long seed = 5;
    /** When >= 0, the file is cut to this many bytes. */
    int truncateTo = -1;
    /** Virtual = physical + this; a kernel's text mapping by default, 0 for a user-space program. */
    long vaddrOffset = 0xffffffff80000000L;

    /** When set, written at the entry point (which must be in segment 0). */
    public byte[] entryCode;

    byte[] segmentBytes(int i) {
        byte[] b = new byte[segs.get(i).fileSize()];
        new Random(seed + i).nextBytes(b);
        if (i == 0 && entryCode != null) {
            System.arraycopy(entryCode, 0, b, (int) (entry - segs.get(0).paddr()), entryCode.length);
        }
        return b;
    }

    byte[] bytes() {
        int phnum = segs.size() + 1;
        int dataStart = 64 + phnum * 56;
        int size = dataStart;
        for (Seg s : segs) {
            size += s.fileSize();
        }
        ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {0x7f, 'E', 'L', 'F', (byte) elfClass, 1, 1, 0});
        b.putShort(0x10, (short) type);
        b.putShort(0x12, (short) machine);
        b.putInt(0x14, 1);
        b.putLong(0x18, entry);
        b.putLong(0x20, 64);
        b.putShort(0x34, (short) 64);
        b.putShort(0x36, (short) 56);
        b.putShort(0x38, (short) phnum);
        int off = dataStart;
        for (int i = 0; i < segs.size(); i++) {
            Seg s = segs.get(i);
            int ph = 64 + i * 56;
            b.putInt(ph, 1);
            b.putInt(ph + 4, 5);
            b.putLong(ph + 8, off);
            b.putLong(ph + 0x10, vaddrOffset + s.paddr());
            b.putLong(ph + 0x18, s.paddr());
            b.putLong(ph + 0x20, s.fileSize());
            b.putLong(ph + 0x28, s.memSize());
            b.put(off, segmentBytes(i));
            off += s.fileSize();
        }
        int note = 64 + segs.size() * 56; // PT_NOTE: must be skipped
        b.putInt(note, 4);
        b.putLong(note + 0x18, 0);
        byte[] all = b.array();
        return truncateTo >= 0 ? java.util.Arrays.copyOf(all, truncateTo) : all;
    }

    public Path write(Path dir) throws IOException {
        Path f = Files.createTempFile(dir, "vmlinux", "");
        Files.write(f, bytes());
        return f;
    }
}
