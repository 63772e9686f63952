package io.d3vm.vmm.boot;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * An ELF32 i386 executable's loadable segments, every header field and program header checked
 * against the file before anything is used. The test guest and Multiboot kernels are both such
 * files; each loader adds its own rules (where segments may lie, which entry counts).
 *
 * @param entry    {@code e_entry}, a virtual address
 * @param segments the PT_LOAD segments with a size, by physical address, not overlapping
 */
public record Elf32Executable(long entry, List<Segment> segments) {
    private static final int EHDR_SIZE = 52;
    private static final int PHDR_SIZE = 32;
    private static final int MAX_PHDRS = 64;
    private static final int PT_LOAD = 1;
    private static final int ET_EXEC = 2;
    private static final int EM_386 = 3;

    /** One PT_LOAD: {@code fileSize} bytes from {@code fileOffset} to {@code paddr} ({@code vaddr} as linked), then zeros up to {@code memSize}. */
    public record Segment(long paddr, long vaddr, long fileOffset, long fileSize, long memSize) {
        public long end() {
            return paddr + memSize;
        }
    }

    public Elf32Executable {
        segments = List.copyOf(segments);
    }

    /**
     * Parses {@code file}; every segment must lie in {@code [loadMin, loadMax)}.
     *
     * @param window how that range reads in a message, e.g. "[1 MiB, 16 MiB), where the contract puts the guest"
     * @throws IllegalArgumentException saying what is wrong, phrased to follow the file's name
     */
    public static Elf32Executable parse(byte[] file, long loadMin, long loadMax, String window) {
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        if (file.length < EHDR_SIZE) {
            throw new IllegalArgumentException("is " + file.length + " bytes, shorter than an ELF header");
        }
        if (b.getInt(0) != 0x464c457f) {
            throw new IllegalArgumentException("is not an ELF file (no \\x7fELF magic)");
        }
        if (file[4] != 1) {
            throw new IllegalArgumentException("is not ELF32 (EI_CLASS " + file[4] + "): an i386 executable is");
        }
        if (file[5] != 1) {
            throw new IllegalArgumentException("is not little-endian (EI_DATA " + file[5] + ")");
        }
        if (file[6] != 1 || b.getInt(20) != 1) {
            throw new IllegalArgumentException("has an unknown ELF version");
        }
        if (u16(b, 16) != ET_EXEC) {
            throw new IllegalArgumentException("is not an executable (e_type " + u16(b, 16) + ")");
        }
        if (u16(b, 18) != EM_386) {
            throw new IllegalArgumentException("is not for i386 (e_machine " + u16(b, 18) + ")");
        }
        long phoff = u32(b, 28);
        int phentsize = u16(b, 42);
        int phnum = u16(b, 44);
        if (phentsize != PHDR_SIZE) {
            throw new IllegalArgumentException("has program headers of " + phentsize + " bytes (ELF32 uses 32)");
        }
        if (phnum < 1 || phnum > MAX_PHDRS) {
            throw new IllegalArgumentException("has " + phnum + " program headers (1.." + MAX_PHDRS + " expected)");
        }
        if (phoff > file.length || (long) phnum * PHDR_SIZE > file.length - phoff) {
            throw new IllegalArgumentException("has program headers at " + phoff + " beyond the file's " + file.length + " bytes");
        }
        List<Segment> segs = new ArrayList<>();
        for (int i = 0; i < phnum; i++) {
            int o = (int) (phoff + (long) i * PHDR_SIZE);
            if (b.getInt(o) != PT_LOAD) {
                continue;
            }
            long offset = u32(b, o + 4);
            long vaddr = u32(b, o + 8);
            long paddr = u32(b, o + 12);
            long filesz = u32(b, o + 16);
            long memsz = u32(b, o + 20);
            if (memsz == 0) {
                continue;
            }
            if (filesz > memsz) {
                throw new IllegalArgumentException("segment " + i + " has p_filesz " + filesz + " > p_memsz " + memsz);
            }
            if (offset > file.length || filesz > file.length - offset) {
                throw new IllegalArgumentException("segment " + i + " reads " + filesz + " bytes at offset " + offset
                        + " beyond the file's " + file.length + " bytes");
            }
            if (paddr < loadMin || paddr + memsz > loadMax) {
                throw new IllegalArgumentException(String.format("segment %d at 0x%x..0x%x is outside %s", i, paddr, paddr + memsz, window));
            }
            segs.add(new Segment(paddr, vaddr, offset, filesz, memsz));
        }
        if (segs.isEmpty()) {
            throw new IllegalArgumentException("has no PT_LOAD segment");
        }
        segs.sort(Comparator.comparingLong(Segment::paddr));
        for (int i = 1; i < segs.size(); i++) {
            if (segs.get(i).paddr() < segs.get(i - 1).end()) {
                throw new IllegalArgumentException(String.format("segments at 0x%x and 0x%x overlap", segs.get(i - 1).paddr(), segs.get(i).paddr()));
            }
        }
        return new Elf32Executable(u32(b, 24), segs);
    }

    /** Whether {@code physical} lies in the file-backed part of a segment (code can only start there). */
    public boolean loads(long physical) {
        for (Segment s : segments) {
            if (physical >= s.paddr() && physical < s.paddr() + s.fileSize()) {
                return true;
            }
        }
        return false;
    }

    /** {@code e_entry} as a physical address: through the segment whose virtual range holds it; -1 when none does. */
    public long physicalEntry() {
        for (Segment s : segments) {
            if (entry >= s.vaddr() && entry < s.vaddr() + s.fileSize()) {
                return entry - s.vaddr() + s.paddr();
            }
        }
        return -1;
    }

    private static int u16(ByteBuffer b, int o) {
        return b.getShort(o) & 0xffff;
    }

    private static long u32(ByteBuffer b, int o) {
        return b.getInt(o) & 0xffffffffL;
    }
}
