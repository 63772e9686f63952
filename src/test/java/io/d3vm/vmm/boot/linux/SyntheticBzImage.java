package io.d3vm.vmm.boot.linux;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/**
 * Builds a bzImage-shaped file for loader tests: a real-mode part with a setup header whose fields
 * the test chooses, then a random protected-mode payload. It is not a bootable kernel; the loader
 * only needs the header and the bytes to place.
 */
public final class SyntheticBzImage {
    int setupSects = 3;
    int version = 0x020f;
    int loadFlags = SetupHeader.LOADED_HIGH;
    int xloadFlags = SetupHeader.XLF_KERNEL_64 | SetupHeader.XLF_CAN_BE_LOADED_ABOVE_4G;
    long kernelAlignment = 0x200000;
    boolean relocatable = true;
    long prefAddress = 0x1000000;
    public long initSize = 8L << 20;
    long cmdlineSize = 2047;
    long initrdAddrMax = 0x7fffffff;
    int bootFlag = SetupHeader.BOOT_FLAG;
    int magic = SetupHeader.HEADER_MAGIC;
    /** Header end = 0x202 + this (the jump instruction's offset byte), like Linux's "jmp start_of_setup". */
    int jumpOffset = 0x6a;
    int payloadBytes = 96 * 1024;
    long syssizeOverride = -1;
    long seed = 42;
    /** When set, written into the payload at {@link SetupHeader#ENTRY_64_OFFSET} (the 64-bit entry). */
    public byte[] entryCode;

    /** The protected-mode payload this image carries (deterministic in {@link #seed}). */
    byte[] payload() {
        byte[] p = new byte[payloadBytes];
        new Random(seed).nextBytes(p);
        if (entryCode != null) {
            System.arraycopy(entryCode, 0, p, (int) SetupHeader.ENTRY_64_OFFSET, entryCode.length);
        }
        return p;
    }

    int setupBytes() {
        return ((setupSects == 0 ? 4 : setupSects) + 1) * 512;
    }

    byte[] bytes() {
        int setup = setupBytes();
        byte[] img = new byte[setup + payloadBytes];
        ByteBuffer b = ByteBuffer.wrap(img).order(ByteOrder.LITTLE_ENDIAN);
        // Fill the real-mode part with noise so the test sees that exactly the header is copied.
        Random r = new Random(seed ^ 0x5eed);
        for (int i = 0; i < setup; i++) {
            img[i] = (byte) r.nextInt();
        }
        b.put(SetupHeader.OFF_SETUP_SECTS, (byte) setupSects);
        b.putInt(SetupHeader.OFF_SYSSIZE, (int) (syssizeOverride >= 0 ? syssizeOverride : (payloadBytes + 15) / 16));
        b.putShort(SetupHeader.OFF_BOOT_FLAG, (short) bootFlag);
        b.put(SetupHeader.OFF_JUMP, (byte) 0xeb);
        b.put(SetupHeader.OFF_JUMP + 1, (byte) jumpOffset);
        b.putInt(SetupHeader.OFF_HEADER, magic);
        b.putShort(SetupHeader.OFF_VERSION, (short) version);
        b.put(SetupHeader.OFF_TYPE_OF_LOADER, (byte) 0);
        b.put(SetupHeader.OFF_LOADFLAGS, (byte) loadFlags);
        b.putInt(SetupHeader.OFF_RAMDISK_IMAGE, 0);
        b.putInt(SetupHeader.OFF_RAMDISK_SIZE, 0);
        b.putInt(SetupHeader.OFF_CMD_LINE_PTR, 0);
        b.putInt(SetupHeader.OFF_INITRD_ADDR_MAX, (int) initrdAddrMax);
        b.putInt(SetupHeader.OFF_KERNEL_ALIGNMENT, (int) kernelAlignment);
        b.put(SetupHeader.OFF_RELOCATABLE, (byte) (relocatable ? 1 : 0));
        b.put(SetupHeader.OFF_MIN_ALIGNMENT, (byte) Long.numberOfTrailingZeros(kernelAlignment));
        b.putShort(SetupHeader.OFF_XLOADFLAGS, (short) xloadFlags);
        b.putInt(SetupHeader.OFF_CMDLINE_SIZE, (int) cmdlineSize);
        b.putInt(SetupHeader.OFF_HARDWARE_SUBARCH, 0);
        b.putLong(SetupHeader.OFF_SETUP_DATA, 0x1234_5678L); // garbage the loader must not pass on
        b.putLong(SetupHeader.OFF_PREF_ADDRESS, prefAddress);
        b.putInt(SetupHeader.OFF_INIT_SIZE, (int) initSize);
        System.arraycopy(payload(), 0, img, setup, payloadBytes);
        return img;
    }

    public Path write(Path dir) throws IOException {
        Path f = Files.createTempFile(dir, "bzImage", "");
        Files.write(f, bytes());
        return f;
    }
}
