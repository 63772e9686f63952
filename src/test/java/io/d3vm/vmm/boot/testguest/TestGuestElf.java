package io.d3vm.vmm.boot.testguest;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Builds small ELF32 test-guest images: one PT_LOAD at {@link #LOAD_ADDR} holding the headers, a
 * D3VM header at file offset {@link #D3VM_OFFSET} and 64-bit code at {@link #CODE_OFFSET}, plus
 * {@code bss} zero bytes. Tests corrupt its fields to exercise the validation.
 */
public final class TestGuestElf {
    public static final long LOAD_ADDR = 0x100000;
    public static final int PHOFF = 52;
    public static final int D3VM_OFFSET = 0x60;
    public static final int CODE_OFFSET = 0x80;
    public static final long ENTRY64 = LOAD_ADDR + CODE_OFFSET;

    private TestGuestElf() {}

    public static byte[] build(byte[] code, int bss) {
        int size = CODE_OFFSET + code.length;
        ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        b.put(0, new byte[] {0x7f, 'E', 'L', 'F', 1, 1, 1, 0});
        b.putShort(16, (short) 2);      // ET_EXEC
        b.putShort(18, (short) 3);      // EM_386
        b.putInt(20, 1);                // e_version
        b.putInt(24, (int) LOAD_ADDR);  // e_entry (the 32-bit entry; d3vm uses entry64)
        b.putInt(28, PHOFF);
        b.putShort(40, (short) 52);     // e_ehsize
        b.putShort(42, (short) 32);     // e_phentsize
        b.putShort(44, (short) 1);      // e_phnum
        // PT_LOAD covering the whole file.
        b.putInt(PHOFF, 1);
        b.putInt(PHOFF + 4, 0);
        b.putInt(PHOFF + 8, (int) LOAD_ADDR);
        b.putInt(PHOFF + 12, (int) LOAD_ADDR);
        b.putInt(PHOFF + 16, size);
        b.putInt(PHOFF + 20, size + bss);
        b.putInt(PHOFF + 24, 7);
        b.putInt(D3VM_OFFSET, TestGuestImage.D3VM_MAGIC);
        b.putInt(D3VM_OFFSET + 4, 1);
        b.putLong(D3VM_OFFSET + 8, ENTRY64);
        b.putLong(D3VM_OFFSET + 16, 0);
        b.put(CODE_OFFSET, code);
        return b.array();
    }
}
