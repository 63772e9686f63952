package io.d3vm.guest;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Checks the built test guest (classpath resource /guest/d3guest.elf, built by guest/Makefile in
 * generate-resources) against guest/README.md "Boot contract", without running it: ELF32 i386, Multiboot v1 and
 * D3VM headers in the first 8 KiB, PT_LOAD segments inside [1 MiB, 16 MiB), entry64 inside a
 * loaded executable segment.
 */
class BuiltGuestBinaryTest {

    static final long ONE_MIB = 1L << 20;

    static byte[] guestElf() throws IOException {
        try (InputStream in = BuiltGuestBinaryTest.class.getResourceAsStream("/guest/d3guest.elf")) {
            assertThat(in).as("classpath resource /guest/d3guest.elf (built by guest/build.sh)").isNotNull();
            return in.readAllBytes();
        }
    }

    @Test
    void shouldBeElf32I386WithSegmentsBetweenOneAndSixteenMiB() throws IOException {
        ByteBuffer b = ByteBuffer.wrap(guestElf()).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(b.getInt(0)).isEqualTo(0x464c457f);
        assertThat(b.get(4)).as("ELFCLASS32").isEqualTo((byte) 1);
        assertThat(b.getShort(18)).as("EM_386").isEqualTo((short) 3);
        long entry = Integer.toUnsignedLong(b.getInt(24));
        int phoff = b.getInt(28), phentsize = b.getShort(42), phnum = b.getShort(44);
        int loads = 0;
        boolean entryLoaded = false;
        for (int i = 0; i < phnum; i++) {
            int ph = phoff + i * phentsize;
            if (b.getInt(ph) != 1) {
                continue;
            }
            loads++;
            long paddr = Integer.toUnsignedLong(b.getInt(ph + 12));
            long memsz = Integer.toUnsignedLong(b.getInt(ph + 20));
            assertThat(paddr).isGreaterThanOrEqualTo(ONE_MIB);
            assertThat(paddr + memsz).isLessThanOrEqualTo(16 * ONE_MIB);
            entryLoaded |= entry >= paddr && entry < paddr + Integer.toUnsignedLong(b.getInt(ph + 16));
        }
        assertThat(loads).isPositive();
        assertThat(entryLoaded).as("the Multiboot entry is inside a loaded segment").isTrue();
    }

    @Test
    void shouldCarryMultibootAndD3vmHeadersInFirstEightKiB() throws IOException {
        byte[] elf = guestElf();
        ByteBuffer b = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
        int mb = -1, d3 = -1;
        for (int off = 0; off + 24 <= Math.min(8192, elf.length); off += 4) {
            if (mb < 0 && b.getInt(off) == 0x1BADB002) {
                mb = off;
            }
            if (d3 < 0 && off % 8 == 0 && b.getInt(off) == 0x4D563344) {
                d3 = off;
            }
        }
        assertThat(mb).as("Multiboot header").isNotNegative();
        assertThat(b.getInt(mb) + b.getInt(mb + 4) + b.getInt(mb + 8)).as("Multiboot checksum").isZero();
        assertThat(b.getInt(mb + 4) & 0x10000).as("no a.out kludge: QEMU loads the ELF segments").isZero();
        assertThat(d3).as("D3VM header").isNotNegative();
        assertThat(b.getInt(d3 + 4)).as("version").isEqualTo(1);
        long entry64 = b.getLong(d3 + 8);
        assertThat(entry64).isBetween(ONE_MIB, 16 * ONE_MIB - 1);
        assertThat(b.getLong(d3 + 16)).as("reserved").isZero();
        // The header's file offset maps to its load address through the first PT_LOAD: entry64
        // must lie in the same loaded image.
        int phoff = b.getInt(28);
        long fileOff = Integer.toUnsignedLong(b.getInt(phoff + 4));
        long paddr = Integer.toUnsignedLong(b.getInt(phoff + 12));
        long filesz = Integer.toUnsignedLong(b.getInt(phoff + 16));
        assertThat((long) d3).isBetween(fileOff, fileOff + filesz - 24);
        assertThat(entry64).isBetween(paddr, paddr + filesz - 1);
    }
}
