package io.d3vm.vmm.boot.linux;

import java.lang.foreign.MemorySegment;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * Writes the Linux "zero page" ({@code struct boot_params}, 4 KiB) that the 64-bit entry point
 * receives in RSI. Only {@link LinuxLoader} writes it; tests read it back through the same offsets.
 *
 * <pre>
 *  0x000 screen_info ...         (left zero: no video, the console is the serial port)
 *  0x070 acpi_rsdp_addr   u64    (zero: d3vm has no ACPI tables)
 *  0x0c0 ext_ramdisk_image u32   high 32 bits of ramdisk_image
 *  0x0c4 ext_ramdisk_size  u32   high 32 bits of ramdisk_size
 *  0x0c8 ext_cmd_line_ptr  u32   high 32 bits of cmd_line_ptr
 *  0x1e8 e820_entries      u8
 *  0x1f1 hdr               the kernel's setup header, copied, then the loader's fields written
 *  0x2d0 e820_table[128]   20 bytes each
 * </pre>
 */
public final class BootParams {
    public static final int SIZE = 4096;
    public static final int OFF_ACPI_RSDP_ADDR = 0x070;
    public static final int OFF_EXT_RAMDISK_IMAGE = 0x0c0;
    public static final int OFF_EXT_RAMDISK_SIZE = 0x0c4;
    public static final int OFF_EXT_CMD_LINE_PTR = 0x0c8;
    public static final int OFF_E820_ENTRIES = 0x1e8;
    public static final int OFF_E820_TABLE = 0x2d0;
    public static final int E820_MAX_ENTRIES = 128;

    /** type_of_loader for a boot loader without an assigned id (boot.rst: 0xff "undefined"). */
    public static final int LOADER_TYPE_UNDEFINED = 0xff;

    private BootParams() {}

    /**
     * Fills {@code page} (4 KiB of guest memory) with a boot_params for the given placements.
     * Addresses are guest-physical; sizes in bytes ({@code ramdiskSize} 0 = no initramfs).
     */
    static void write(MemorySegment page, SetupHeader header, long cmdLinePtr, long ramdiskImage, long ramdiskSize,
                      List<E820Entry> e820) {
        if (page.byteSize() != SIZE) {
            throw new IllegalArgumentException("boot_params is one 4 KiB page");
        }
        if (e820.size() > E820_MAX_ENTRIES) {
            throw new LinuxBootException("the memory layout needs " + e820.size() + " e820 entries; boot_params holds "
                    + E820_MAX_ENTRIES);
        }
        page.fill((byte) 0);
        MemorySegment.copy(MemorySegment.ofArray(header.raw()), 0, page, SetupHeader.OFF_SETUP_SECTS, header.raw().length);

        page.set(JAVA_BYTE, SetupHeader.OFF_TYPE_OF_LOADER, (byte) LOADER_TYPE_UNDEFINED);
        page.set(JAVA_INT_UNALIGNED, SetupHeader.OFF_CMD_LINE_PTR, (int) cmdLinePtr);
        page.set(JAVA_INT_UNALIGNED, OFF_EXT_CMD_LINE_PTR, (int) (cmdLinePtr >>> 32));
        page.set(JAVA_INT_UNALIGNED, SetupHeader.OFF_RAMDISK_IMAGE, (int) ramdiskImage);
        page.set(JAVA_INT_UNALIGNED, OFF_EXT_RAMDISK_IMAGE, (int) (ramdiskImage >>> 32));
        page.set(JAVA_INT_UNALIGNED, SetupHeader.OFF_RAMDISK_SIZE, (int) ramdiskSize);
        page.set(JAVA_INT_UNALIGNED, OFF_EXT_RAMDISK_SIZE, (int) (ramdiskSize >>> 32));
        // The image's own bytes here are whatever its build left; the loader owns this field and
        // has no setup_data list to hand over. hardware_subarch 0 = a normal PC.
        page.set(JAVA_LONG_UNALIGNED, SetupHeader.OFF_SETUP_DATA, 0L);
        page.set(JAVA_INT_UNALIGNED, SetupHeader.OFF_HARDWARE_SUBARCH, 0);

        page.set(JAVA_BYTE, OFF_E820_ENTRIES, (byte) e820.size());
        for (int i = 0; i < e820.size(); i++) {
            E820Entry e = e820.get(i);
            long off = OFF_E820_TABLE + (long) i * E820Entry.BYTES;
            page.set(JAVA_LONG_UNALIGNED, off, e.addr());
            page.set(JAVA_LONG_UNALIGNED, off + 8, e.size());
            page.set(JAVA_INT_UNALIGNED, off + 16, e.type());
        }
    }
}
