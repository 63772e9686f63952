package io.d3vm.vmm.boot.multiboot;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryRegion;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * The Multiboot v1 information structure (Multiboot 0.6.96, §3.3) and what it points to, all below
 * 640 KiB at fixed addresses: the structure at {@link #INFO_ADDR}, the memory map at
 * {@link #MMAP_ADDR}, the command line at {@link #CMDLINE_ADDR}, the boot loader's name, the module
 * list and the modules' strings. The test guest's loader and the Multiboot loader both write it.
 */
public final class MultibootInfo {
    /** EAX at a Multiboot entry. */
    public static final long BOOTLOADER_MAGIC = 0x2BADB002L;
    public static final long INFO_ADDR = 0x7000;
    public static final long MMAP_ADDR = 0x7100;
    public static final long CMDLINE_ADDR = 0x8000;
    /** The longest command line, in bytes (a NUL follows it). */
    public static final int MAX_CMDLINE = 4095;
    static final long LOADER_NAME_ADDR = 0x9000;
    static final long MODS_ADDR = 0x9100;
    static final long MOD_STRINGS_ADDR = 0x9400;
    static final int MOD_STRINGS_MAX = 0x800;
    public static final int MAX_MODULES = 32;
    public static final String LOADER_NAME = "d3vm";
    /** Conventional memory ends here (639 KiB, as on a PC with an EBDA). */
    static final long LOW_MEMORY_END = 0x9fc00;

    static final int FLAG_MEM = 1, FLAG_CMDLINE = 1 << 2, FLAG_MODS = 1 << 3, FLAG_MMAP = 1 << 6, FLAG_LOADER_NAME = 1 << 9;
    private static final int INFO_SIZE = 0x100;
    private static final int MMAP_ENTRY = 24;
    private static final int MOD_ENTRY = 16;
    private static final int E820_RAM = 1;

    /** A module in guest memory: {@code [start, end)} and its string. */
    public record Module(long start, long end, String string) {}

    private MultibootInfo() {}

    /** Checks what {@link #write} will be given, before any VM exists. */
    public static void check(String cmdline, List<String> moduleStrings) {
        if (cmdline.getBytes(StandardCharsets.US_ASCII).length > MAX_CMDLINE) {
            throw new IllegalArgumentException("the command line is longer than " + MAX_CMDLINE + " bytes");
        }
        if (moduleStrings.size() > MAX_MODULES) {
            throw new IllegalArgumentException(moduleStrings.size() + " modules: at most " + MAX_MODULES);
        }
        int total = 0;
        for (String m : moduleStrings) {
            total += m.getBytes(StandardCharsets.UTF_8).length + 1;
        }
        if (total > MOD_STRINGS_MAX) {
            throw new IllegalArgumentException("the modules' names and arguments take " + total + " bytes: at most " + MOD_STRINGS_MAX);
        }
    }

    /**
     * Writes the structure: memory info and map from {@code memory}'s regions, the command line,
     * and — when {@code loaderName} — the boot loader's name and the {@code modules} (already in
     * memory). Returns the flags written.
     */
    public static int write(GuestMemory memory, String cmdline, boolean loaderName, List<Module> modules) {
        check(cmdline, modules.stream().map(Module::string).toList());
        byte[] cmd = cmdline.getBytes(StandardCharsets.US_ASCII);
        MemorySegment c = memory.slice(CMDLINE_ADDR, MAX_CMDLINE + 1);
        c.fill((byte) 0);
        MemorySegment.copy(cmd, 0, c, JAVA_BYTE, 0, cmd.length);

        // Memory map: conventional memory below the EBDA, then every RAM region (the first one
        // from 1 MiB: the legacy VGA/BIOS hole stays out of the map as on a PC).
        MemorySegment map = memory.slice(MMAP_ADDR, (long) MMAP_ENTRY * (memory.regions().size() + 1));
        int n = mmapEntry(map, 0, 0, LOW_MEMORY_END);
        for (MemoryRegion r : memory.regions()) {
            long start = Math.max(r.guestPhysAddr(), 1L << 20);
            if (start < r.guestPhysAddr() + r.size()) {
                n = mmapEntry(map, n, start, r.guestPhysAddr() + r.size() - start);
            }
        }
        MemoryRegion low = memory.regions().getFirst();
        MemorySegment info = memory.slice(INFO_ADDR, INFO_SIZE);
        info.fill((byte) 0);
        int flags = FLAG_MEM | FLAG_CMDLINE | FLAG_MMAP;
        info.set(JAVA_INT_UNALIGNED, 4, (int) (LOW_MEMORY_END >> 10));               // mem_lower, KiB
        info.set(JAVA_INT_UNALIGNED, 8, (int) ((low.size() - (1L << 20)) >> 10));    // mem_upper: KiB from 1 MiB to the first hole
        info.set(JAVA_INT_UNALIGNED, 16, (int) CMDLINE_ADDR);
        info.set(JAVA_INT_UNALIGNED, 44, n * MMAP_ENTRY);
        info.set(JAVA_INT_UNALIGNED, 48, (int) MMAP_ADDR);
        if (loaderName) {
            flags |= FLAG_LOADER_NAME;
            byte[] name = (LOADER_NAME + "\0").getBytes(StandardCharsets.US_ASCII);
            MemorySegment.copy(name, 0, memory.slice(LOADER_NAME_ADDR, name.length), JAVA_BYTE, 0, name.length);
            info.set(JAVA_INT_UNALIGNED, 64, (int) LOADER_NAME_ADDR);
            flags |= FLAG_MODS; // mods_count 0 is a valid list: the kernel learns there are none
            MemorySegment mods = memory.slice(MODS_ADDR, (long) MOD_ENTRY * MAX_MODULES);
            mods.fill((byte) 0);
            long str = MOD_STRINGS_ADDR;
            for (int i = 0; i < modules.size(); i++) {
                Module m = modules.get(i);
                byte[] s = (m.string() + "\0").getBytes(StandardCharsets.UTF_8);
                MemorySegment.copy(s, 0, memory.slice(str, s.length), JAVA_BYTE, 0, s.length);
                mods.set(JAVA_INT_UNALIGNED, (long) i * MOD_ENTRY, (int) m.start());
                mods.set(JAVA_INT_UNALIGNED, (long) i * MOD_ENTRY + 4, (int) m.end());
                mods.set(JAVA_INT_UNALIGNED, (long) i * MOD_ENTRY + 8, (int) str);
                str += s.length;
            }
            info.set(JAVA_INT_UNALIGNED, 20, modules.size());
            info.set(JAVA_INT_UNALIGNED, 24, (int) MODS_ADDR);
        }
        info.set(JAVA_INT_UNALIGNED, 0, flags);
        return flags;
    }

    private static int mmapEntry(MemorySegment map, int i, long base, long length) {
        long o = (long) i * MMAP_ENTRY;
        // Multiboot mmap entries: u32 size (of the rest, 20), u64 base, u64 length, u32 type.
        map.set(JAVA_INT_UNALIGNED, o, 20);
        map.set(JAVA_LONG_UNALIGNED, o + 4, base);
        map.set(JAVA_LONG_UNALIGNED, o + 12, length);
        map.set(JAVA_INT_UNALIGNED, o + 20, E820_RAM);
        return i + 1;
    }
}
