package io.d3vm.vmm.boot.linux;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The setup header of an x86 bzImage (Linux boot protocol, {@code Documentation/arch/x86/boot.rst}),
 * parsed from the image's first sectors and validated against the file's size, so the loader may
 * trust every field. {@link LinuxLoader} reads it; {@link BootParams} copies its raw bytes into the
 * zero page.
 *
 * <p>Offsets are those of {@code struct boot_params}, which are also file offsets (the header sits
 * at 0x1f1 in both):
 * <pre>
 *  0x1f1 setup_sects  u8      0x211 loadflags        u8      0x236 xloadflags   u16
 *  0x1f4 syssize      u32     0x218 ramdisk_image    u32     0x238 cmdline_size u32
 *  0x1fe boot_flag    u16     0x21c ramdisk_size     u32     0x258 pref_address u64
 *  0x201 jump (end-of-header offset byte)   0x228 cmd_line_ptr u32     0x260 init_size u32
 *  0x202 header "HdrS" u32    0x22c initrd_addr_max  u32
 *  0x206 version      u16     0x230 kernel_alignment u32
 *  0x210 type_of_loader u8    0x234 relocatable_kernel u8   0x235 min_alignment u8
 * </pre>
 *
 * @param version          boot protocol version (0x020f = 2.15)
 * @param setupBytes       bytes of the real-mode part, boot sector included: (setup_sects + 1) * 512
 * @param kernelBytes      bytes of the protected-mode kernel that follow (the rest of the file)
 * @param loadFlags        loadflags
 * @param xloadFlags       xloadflags
 * @param kernelAlignment  physical alignment the kernel must be loaded at
 * @param relocatable      whether the kernel may be loaded at another address than prefAddress
 * @param prefAddress      preferred load address
 * @param initSize         bytes the kernel needs from its load address before it can relocate itself
 * @param cmdlineSize      longest command line the kernel accepts, terminating zero excluded
 * @param initrdAddrMax    highest address the last byte of the initramfs may have
 * @param raw              the header bytes to copy into boot_params: file [0x1f1, headerEnd)
 */
public record SetupHeader(int version, int setupBytes, long kernelBytes, int loadFlags, int xloadFlags,
                          long kernelAlignment, boolean relocatable, long prefAddress, long initSize,
                          long cmdlineSize, long initrdAddrMax, byte[] raw) {

    public static final int OFF_SETUP_SECTS = 0x1f1;
    public static final int OFF_SYSSIZE = 0x1f4;
    public static final int OFF_BOOT_FLAG = 0x1fe;
    public static final int OFF_JUMP = 0x200;
    public static final int OFF_HEADER = 0x202;
    public static final int OFF_VERSION = 0x206;
    public static final int OFF_TYPE_OF_LOADER = 0x210;
    public static final int OFF_LOADFLAGS = 0x211;
    public static final int OFF_RAMDISK_IMAGE = 0x218;
    public static final int OFF_RAMDISK_SIZE = 0x21c;
    public static final int OFF_CMD_LINE_PTR = 0x228;
    public static final int OFF_INITRD_ADDR_MAX = 0x22c;
    public static final int OFF_KERNEL_ALIGNMENT = 0x230;
    public static final int OFF_RELOCATABLE = 0x234;
    public static final int OFF_MIN_ALIGNMENT = 0x235;
    public static final int OFF_XLOADFLAGS = 0x236;
    public static final int OFF_CMDLINE_SIZE = 0x238;
    public static final int OFF_HARDWARE_SUBARCH = 0x23c;
    public static final int OFF_SETUP_DATA = 0x250;
    public static final int OFF_PREF_ADDRESS = 0x258;
    public static final int OFF_INIT_SIZE = 0x260;

    /** boot_params reserves up to here for the header (edd_mbr_sig_buffer follows at 0x290). */
    public static final int MAX_HEADER_END = 0x290;
    /** Bytes of the image the parser needs: every field it reads lies below this. */
    public static final int MIN_IMAGE_BYTES = OFF_INIT_SIZE + 4;

    public static final int BOOT_FLAG = 0xAA55;
    /** "HdrS" read as a little-endian u32. */
    public static final int HEADER_MAGIC = 0x53726448;
    /** 2.12 is the first protocol with xloadflags, which is how a kernel announces its 64-bit entry. */
    public static final int MIN_VERSION = 0x020c;

    public static final int LOADED_HIGH = 1;
    public static final int XLF_KERNEL_64 = 1;
    public static final int XLF_CAN_BE_LOADED_ABOVE_4G = 2;

    /** Offset of the 64-bit entry point (startup_64) from the load address. */
    public static final long ENTRY_64_OFFSET = 0x200;

    public SetupHeader {
        raw = raw.clone();
    }

    @Override
    public byte[] raw() {
        return raw.clone();
    }

    /** "2.15" for 0x020f. */
    public String versionString() {
        return (version >>> 8) + "." + (version & 0xff);
    }

    /**
     * The header a loader hands a kernel that came without one (an ELF vmlinux loaded at
     * {@code loadAddress}, spanning {@code span} bytes): the values a bzImage of an x86-64 Debian
     * kernel declares, with pref_address and init_size describing where the image really is.
     */
    public static SetupHeader forVmlinux(long loadAddress, long span) {
        int headerEnd = 0x26c; // protocol 2.15's header
        byte[] raw = new byte[headerEnd - OFF_SETUP_SECTS];
        ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        int base = OFF_SETUP_SECTS;
        int version = 0x020f, loadFlags = LOADED_HIGH, xloadFlags = XLF_KERNEL_64;
        long alignment = 0x200000, cmdlineSize = 2047, initrdAddrMax = 0x7fffffff;
        b.putShort(OFF_BOOT_FLAG - base, (short) BOOT_FLAG);
        b.put(OFF_JUMP - base, (byte) 0xeb);
        b.put(OFF_JUMP + 1 - base, (byte) (headerEnd - OFF_HEADER));
        b.putInt(OFF_HEADER - base, HEADER_MAGIC);
        b.putShort(OFF_VERSION - base, (short) version);
        b.put(OFF_LOADFLAGS - base, (byte) loadFlags);
        b.putInt(OFF_INITRD_ADDR_MAX - base, (int) initrdAddrMax);
        b.putInt(OFF_KERNEL_ALIGNMENT - base, (int) alignment);
        b.put(OFF_MIN_ALIGNMENT - base, (byte) Long.numberOfTrailingZeros(alignment));
        b.putShort(OFF_XLOADFLAGS - base, (short) xloadFlags);
        b.putInt(OFF_CMDLINE_SIZE - base, (int) cmdlineSize);
        b.putLong(OFF_PREF_ADDRESS - base, loadAddress);
        b.putInt(OFF_INIT_SIZE - base, (int) Math.min(span, 0xffffffffL));
        return new SetupHeader(version, 0, span, loadFlags, xloadFlags, alignment, false, loadAddress, span,
                cmdlineSize, initrdAddrMax, raw);
    }

    /**
     * Parses and validates the header.
     *
     * @param head     the image's first bytes: at least {@link #MIN_IMAGE_BYTES}, or the whole
     *                 file when it is shorter (then the header is reported truncated)
     * @param fileSize the image file's size
     * @param what     how to name the image in errors (its path)
     */
    public static SetupHeader parse(byte[] head, long fileSize, String what) {
        if (fileSize < MIN_IMAGE_BYTES || head.length < MIN_IMAGE_BYTES) {
            throw new LinuxBootException(what + " is not a bzImage: " + fileSize
                    + " bytes is too short to hold the setup header (needs at least " + MIN_IMAGE_BYTES
                    + "); pass a Linux kernel such as build/linux/vmlinuz (scripts/fetch-linux.sh)");
        }
        ByteBuffer b = ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN);
        int bootFlag = Short.toUnsignedInt(b.getShort(OFF_BOOT_FLAG));
        int magic = b.getInt(OFF_HEADER);
        if (bootFlag != BOOT_FLAG || magic != HEADER_MAGIC) {
            throw new LinuxBootException(what + " is not a bzImage: boot flag 0x" + Integer.toHexString(bootFlag)
                    + " (want 0xaa55), header magic 0x" + Integer.toHexString(magic)
                    + " (want \"HdrS\"); pass an x86-64 Linux kernel: a bzImage (vmlinuz) or an ELF vmlinux");
        }
        int version = Short.toUnsignedInt(b.getShort(OFF_VERSION));
        if (version < MIN_VERSION) {
            throw new LinuxBootException(what + " speaks boot protocol " + (version >>> 8) + "." + (version & 0xff)
                    + "; d3vm needs 2.12 or newer (Linux 3.8+) for the 64-bit entry point");
        }
        int loadFlags = Byte.toUnsignedInt(b.get(OFF_LOADFLAGS));
        if ((loadFlags & LOADED_HIGH) == 0) {
            throw new LinuxBootException(what + " is a zImage (loadflags.LOADED_HIGH clear): only bzImage kernels are supported");
        }
        int xloadFlags = Short.toUnsignedInt(b.getShort(OFF_XLOADFLAGS));
        if ((xloadFlags & XLF_KERNEL_64) == 0) {
            throw new LinuxBootException(what + " has no 64-bit entry point (xloadflags.XLF_KERNEL_64 clear): "
                    + "it is a 32-bit kernel; use an x86-64 kernel (linux-image-*-amd64)");
        }

        int setupSects = Byte.toUnsignedInt(b.get(OFF_SETUP_SECTS));
        // The boot protocol: a setup_sects of 0 means the historical 4.
        int setupBytes = ((setupSects == 0 ? 4 : setupSects) + 1) * 512;
        if (setupBytes >= fileSize) {
            throw new LinuxBootException(what + " is truncated: its setup part is " + setupBytes
                    + " bytes (setup_sects " + setupSects + ") but the file has only " + fileSize);
        }
        int headerEnd = OFF_HEADER + Byte.toUnsignedInt(b.get(OFF_JUMP + 1));
        if (headerEnd < MIN_IMAGE_BYTES || headerEnd > MAX_HEADER_END || headerEnd > setupBytes) {
            throw new LinuxBootException(what + " has a corrupt setup header: it ends at 0x" + Integer.toHexString(headerEnd)
                    + ", outside [0x" + Integer.toHexString(MIN_IMAGE_BYTES) + ", 0x" + Integer.toHexString(MAX_HEADER_END) + "]");
        }
        if (head.length < headerEnd) {
            throw new LinuxBootException(what + ": read only " + head.length + " bytes of a header ending at 0x"
                    + Integer.toHexString(headerEnd));
        }
        long kernelBytes = fileSize - setupBytes;
        long syssize = Integer.toUnsignedLong(b.getInt(OFF_SYSSIZE));
        if (syssize == 0 || syssize * 16 > kernelBytes) {
            throw new LinuxBootException(what + " is truncated: syssize says " + syssize * 16
                    + " bytes of protected-mode kernel, the file holds " + kernelBytes + " after the setup part");
        }

        long kernelAlignment = Integer.toUnsignedLong(b.getInt(OFF_KERNEL_ALIGNMENT));
        if (kernelAlignment < 4096 || Long.bitCount(kernelAlignment) != 1) {
            throw new LinuxBootException(what + " has a bad kernel_alignment 0x" + Long.toHexString(kernelAlignment)
                    + " (must be a power of two of at least 4 KiB)");
        }
        boolean relocatable = b.get(OFF_RELOCATABLE) != 0;
        long prefAddress = b.getLong(OFF_PREF_ADDRESS);
        if (prefAddress <= 0 || prefAddress >= (1L << 40) || (prefAddress & 0xfff) != 0) {
            throw new LinuxBootException(what + " has a bad pref_address 0x" + Long.toHexString(prefAddress));
        }
        if (!relocatable && (prefAddress & (kernelAlignment - 1)) != 0) {
            throw new LinuxBootException(what + " is not relocatable and its pref_address 0x" + Long.toHexString(prefAddress)
                    + " is not aligned to kernel_alignment 0x" + Long.toHexString(kernelAlignment));
        }
        long initSize = Integer.toUnsignedLong(b.getInt(OFF_INIT_SIZE));
        if (initSize < kernelBytes) {
            throw new LinuxBootException(what + " has init_size 0x" + Long.toHexString(initSize)
                    + " smaller than its own protected-mode kernel of " + kernelBytes + " bytes");
        }
        long cmdlineSize = Integer.toUnsignedLong(b.getInt(OFF_CMDLINE_SIZE));
        if (cmdlineSize == 0) {
            throw new LinuxBootException(what + " accepts no command line (cmdline_size 0)");
        }
        long initrdAddrMax = Integer.toUnsignedLong(b.getInt(OFF_INITRD_ADDR_MAX));
        if (initrdAddrMax < (1L << 20)) {
            throw new LinuxBootException(what + " has an unusable initrd_addr_max 0x" + Long.toHexString(initrdAddrMax));
        }

        byte[] raw = java.util.Arrays.copyOfRange(head, OFF_SETUP_SECTS, headerEnd);
        return new SetupHeader(version, setupBytes, kernelBytes, loadFlags, xloadFlags, kernelAlignment,
                relocatable, prefAddress, initSize, cmdlineSize, initrdAddrMax, raw);
    }
}
