package io.d3vm.memory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes small ELF64 cores shaped like QEMU's dump-guest-memory output (a PT_NOTE, then one
 * PT_LOAD per RAM block, the data at unaligned file offsets) for tests. Fields can be corrupted
 * after {@link #build} through the returned buffer's offsets.
 */
public final class ElfCoreBuilder {
    public static final int EHDR = 64;
    public static final int PHDR = 56;

    private record Load(long paddr, byte[] data, long memsz) {}

    private final List<Load> loads = new ArrayList<>();
    private int type = 4;
    private boolean xnum;

    public ElfCoreBuilder load(long paddr, byte[] data) {
        loads.add(new Load(paddr, data, data.length));
        return this;
    }

    public ElfCoreBuilder type(int eType) {
        this.type = eType;
        return this;
    }

    /** Uses PN_XNUM with the real count in section header 0, as cores with many segments do. */
    public ElfCoreBuilder xnum() {
        this.xnum = true;
        return this;
    }

    /** Offset of program header {@code i} (0 is the PT_NOTE, loads follow). */
    public static int phdrOffset(int i) {
        return EHDR + i * PHDR;
    }

    public byte[] build() {
        int phnum = 1 + loads.size();
        int noteOff = EHDR + phnum * PHDR;
        int noteSize = 0x30;            // an arbitrary note body: makes the data start unaligned
        int shoff = noteOff + noteSize;
        int dataOff = shoff + (xnum ? 64 : 0) + 8;
        long total = dataOff;
        for (Load l : loads) {
            total += l.data.length;
        }
        ByteBuffer b = ByteBuffer.allocate((int) total).order(ByteOrder.LITTLE_ENDIAN);
        b.put(0, new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1, 0});
        b.putShort(16, (short) type);
        b.putShort(18, (short) 62);
        b.putInt(20, 1);
        b.putLong(32, EHDR);
        b.putLong(40, xnum ? shoff : 0);
        b.putShort(52, (short) EHDR);
        b.putShort(54, (short) PHDR);
        b.putShort(56, (short) (xnum ? 0xffff : phnum));
        b.putShort(58, (short) 64);
        b.putShort(60, (short) (xnum ? 1 : 0));
        if (xnum) {
            b.putInt(shoff + 44, phnum);
        }
        b.putInt(phdrOffset(0), 4); // PT_NOTE
        b.putLong(phdrOffset(0) + 8, noteOff);
        b.putLong(phdrOffset(0) + 32, noteSize);
        long off = dataOff;
        for (int i = 0; i < loads.size(); i++) {
            Load l = loads.get(i);
            int ph = phdrOffset(1 + i);
            b.putInt(ph, 1); // PT_LOAD
            b.putLong(ph + 8, off);
            b.putLong(ph + 16, l.paddr);
            b.putLong(ph + 24, l.paddr);
            b.putLong(ph + 32, l.data.length);
            b.putLong(ph + 40, l.memsz);
            b.put((int) off, l.data);
            off += l.data.length;
        }
        return b.array();
    }
}
