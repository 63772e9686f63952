package io.d3vm.vmm.boot.multiboot;

import io.d3vm.vmm.boot.Elf32Executable;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * A Multiboot v1 kernel (Multiboot Specification 0.6.96, §3.1): the header found in the file's
 * first 8 KiB, and what to load where — the ELF32 PT_LOAD segments, or, when flag 16 is set, the
 * a.out-kludge addresses of the header. {@link #parse} checks every header field against the file
 * before anything is used; an error names the field.
 *
 * @param name     the file name, for messages and the guest's description
 * @param flags    the header's flags
 * @param segments what to copy to guest-physical memory (bss as zero-filled tails), by address
 * @param entry    the physical address to enter, in 32-bit protected mode
 * @param aout     true when loaded by the a.out kludge (flag 16), false for ELF
 */
public record MultibootKernel(String name, int flags, List<Segment> segments, long entry, boolean aout) {
    public static final int MAGIC = 0x1BADB002;
    /** The header lies 4-byte aligned within this many bytes of the file's start. */
    public static final int SEARCH = 8192;
    public static final int FLAG_PAGE_ALIGN = 1;
    public static final int FLAG_MEMORY_INFO = 1 << 1;
    public static final int FLAG_VIDEO = 1 << 2;
    public static final int FLAG_AOUT_KLUDGE = 1 << 16;
    /** Nothing loads below 64 KiB: d3vm's boot structures (GDT, info, command line, module list) live there. */
    public static final long LOAD_MIN = 0x10000;

    /** {@code fileSize} bytes from {@code fileOffset} to {@code paddr}, then zeros up to {@code memSize}. */
    public record Segment(long paddr, long fileOffset, long fileSize, long memSize) {
        public long end() {
            return paddr + memSize;
        }
    }

    public MultibootKernel {
        segments = List.copyOf(segments);
    }

    /** The end of the highest segment: modules go above it. */
    public long end() {
        return segments.stream().mapToLong(Segment::end).max().orElse(LOAD_MIN);
    }

    /** Whether {@code file} carries the magic at all (a header with a bad checksum still counts: it is reported). */
    public static boolean hasMagic(byte[] file) {
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        for (int o = 0; o + 4 <= Math.min(file.length, SEARCH); o += 4) {
            if (b.getInt(o) == MAGIC) {
                return true;
            }
        }
        return false;
    }

    /**
     * Validates the header and indexes what to load.
     *
     * @throws IllegalArgumentException naming the header field or ELF part that is wrong
     */
    public static MultibootKernel parse(byte[] file, String name) {
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        int at = -1;
        for (int o = 0; o + 4 <= Math.min(file.length, SEARCH); o += 4) {
            if (b.getInt(o) == MAGIC) {
                at = o;
                break;
            }
        }
        if (at < 0) {
            throw bad(name, "has no Multiboot header (magic 0x1BADB002, 4-byte aligned) in its first " + SEARCH + " bytes");
        }
        if (at + 12 > file.length) {
            throw bad(name, "ends inside its Multiboot header at offset " + at);
        }
        int flags = b.getInt(at + 4);
        int checksum = b.getInt(at + 8);
        if (MAGIC + flags + checksum != 0) {
            throw bad(name, String.format("Multiboot header field checksum 0x%08x: magic + flags + checksum must be 0 (mod 2^32),"
                    + " it is 0x%08x", checksum, MAGIC + flags + checksum));
        }
        if ((flags & FLAG_VIDEO) != 0) {
            throw bad(name, "Multiboot header field flags sets bit 2 (a video mode): d3vm has no framebuffer, only a serial console");
        }
        int unknown = flags & 0xfff8; // bits 3..15: requirements (§3.1.2: a loader must refuse what it does not know)
        if (unknown != 0) {
            throw bad(name, String.format("Multiboot header field flags 0x%08x requires bit %d, which Multiboot 0.6.96 does not"
                    + " define", flags, Integer.numberOfTrailingZeros(unknown)));
        }
        if ((flags & FLAG_AOUT_KLUDGE) != 0) {
            return parseAout(file, b, at, flags, name);
        }
        return parseElf(file, b, flags, name);
    }

    private static MultibootKernel parseAout(byte[] file, ByteBuffer b, int at, int flags, String name) {
        if (at + 32 > file.length) {
            throw bad(name, "sets flag 16 (a.out kludge) but ends before the header's address fields");
        }
        long headerAddr = u32(b, at + 12);
        long loadAddr = u32(b, at + 16);
        long loadEndAddr = u32(b, at + 20);
        long bssEndAddr = u32(b, at + 24);
        long entryAddr = u32(b, at + 28);
        if (loadAddr > headerAddr) {
            throw bad(name, String.format("Multiboot header field load_addr 0x%x is above header_addr 0x%x", loadAddr, headerAddr));
        }
        long fileOffset = at - (headerAddr - loadAddr);
        if (fileOffset < 0) {
            throw bad(name, String.format("Multiboot header field header_addr 0x%x puts load_addr 0x%x %d bytes before the"
                    + " start of the file", headerAddr, loadAddr, -fileOffset));
        }
        long end = loadEndAddr == 0 ? loadAddr + (file.length - fileOffset) : loadEndAddr;
        if (end <= loadAddr) {
            throw bad(name, String.format("Multiboot header field load_end_addr 0x%x is not above load_addr 0x%x", loadEndAddr, loadAddr));
        }
        if (end - loadAddr > file.length - fileOffset) {
            throw bad(name, String.format("Multiboot header field load_end_addr 0x%x asks for %d bytes from file offset %d;"
                    + " the file has %d", loadEndAddr, end - loadAddr, fileOffset, file.length - fileOffset));
        }
        long memEnd = end;
        if (bssEndAddr != 0) {
            if (bssEndAddr < end) {
                throw bad(name, String.format("Multiboot header field bss_end_addr 0x%x is below load_end_addr 0x%x", bssEndAddr, end));
            }
            memEnd = bssEndAddr;
        }
        if (loadAddr < LOAD_MIN) {
            throw bad(name, String.format("Multiboot header field load_addr 0x%x is below 64 KiB, where d3vm keeps the boot"
                    + " structures", loadAddr));
        }
        if (memEnd > 0xffffffffL) {
            throw bad(name, String.format("Multiboot header field bss_end_addr 0x%x is beyond 4 GiB", memEnd));
        }
        if (entryAddr < loadAddr || entryAddr >= end) {
            throw bad(name, String.format("Multiboot header field entry_addr 0x%x is outside the loaded 0x%x..0x%x", entryAddr, loadAddr, end));
        }
        Segment s = new Segment(loadAddr, fileOffset, end - loadAddr, memEnd - loadAddr);
        return new MultibootKernel(name, flags, List.of(s), entryAddr, true);
    }

    private static MultibootKernel parseElf(byte[] file, ByteBuffer b, int flags, String name) {
        if (file.length < 4 || b.getInt(0) != 0x464c457f) {
            throw bad(name, "has a Multiboot header without flag 16 (a.out kludge), so it must be an ELF file, and it is not"
                    + " (no \\x7fELF magic)");
        }
        Elf32Executable elf;
        try {
            elf = Elf32Executable.parse(file, LOAD_MIN, 1L << 32, "[64 KiB, 4 GiB): below 64 KiB d3vm keeps the boot structures");
        } catch (IllegalArgumentException e) {
            throw bad(name, e.getMessage());
        }
        // The entry is a virtual address: the segment holding it says where it is physically.
        long physEntry = elf.physicalEntry();
        if (physEntry < 0) {
            throw bad(name, String.format("ELF e_entry 0x%x is not inside a loaded segment", elf.entry()));
        }
        List<Segment> segs = elf.segments().stream().map(s -> new Segment(s.paddr(), s.fileOffset(), s.fileSize(), s.memSize())).toList();
        return new MultibootKernel(name, flags, segs, physEntry, false);
    }

    private static long u32(ByteBuffer b, int o) {
        return b.getInt(o) & 0xffffffffL;
    }

    private static IllegalArgumentException bad(String name, String what) {
        return new IllegalArgumentException("Multiboot kernel " + name + " " + what);
    }
}
