package io.d3vm.vmm.boot.linux;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * An uncompressed x86-64 Linux kernel ({@code vmlinux}, an ELF64 executable), as
 * scripts/fetch-linux.sh extracts it from a bzImage's payload. {@link LinuxLoader} places its
 * PT_LOAD segments at their physical addresses and enters {@code e_entry} (phys_startup_64) with
 * the 64-bit boot protocol, as Firecracker boots vmlinux: the bzImage's decompressor never runs,
 * which matters where kernel-mode code is emulated (docs/LINUX-BOOT.md).
 *
 * <p>ELF64 header fields read (offsets): e_ident class/data (4, 5), e_type (0x10), e_machine
 * (0x12), e_entry (0x18), e_phoff (0x20), e_phentsize (0x36), e_phnum (0x38). Program header
 * (56 bytes): p_type (0), p_offset (8), p_paddr (0x18), p_filesz (0x20), p_memsz (0x28).
 *
 * @param entry    physical entry address
 * @param segments PT_LOAD segments in ascending physical order, validated against the file
 */
public record VmlinuxElf(long entry, List<Segment> segments) {
    public static final int EHDR_BYTES = 64;
    static final int PHDR_BYTES = 56;
    static final int MAX_PHDRS = 64;
    private static final int PT_LOAD = 1, ET_EXEC = 2, EM_X86_64 = 62;
    /** __START_KERNEL_map: an x86-64 kernel's text is linked in the top 2 GiB of the address space. */
    static final long KERNEL_TEXT_MAP = 0xffffffff80000000L;

    /** One PT_LOAD segment: file bytes [offset, +fileSize) go to paddr; the rest up to memSize is zero. */
    public record Segment(long offset, long paddr, long vaddr, long fileSize, long memSize) {
        public long end() {
            return paddr + memSize;
        }
    }

    public VmlinuxElf {
        segments = List.copyOf(segments);
    }

    /** True when {@code head} starts with the ELF magic. */
    public static boolean isElf(byte[] head) {
        return head.length >= 4 && head[0] == 0x7f && head[1] == 'E' && head[2] == 'L' && head[3] == 'F';
    }

    public long start() {
        return segments.getFirst().paddr();
    }

    public long end() {
        return segments.stream().mapToLong(Segment::end).max().orElseThrow();
    }

    /**
     * Parses and validates the headers.
     *
     * @param ehdr     the file's first {@link #EHDR_BYTES} bytes (fewer when the file is shorter)
     * @param phdrs    reads {@code count * 56} bytes at a file offset (the program headers)
     * @param fileSize the file's size
     * @param what     the file's name for errors
     */
    public static VmlinuxElf parse(byte[] ehdr, PhdrReader phdrs, long fileSize, String what) {
        if (ehdr.length < EHDR_BYTES) {
            throw new LinuxBootException(what + " is a truncated ELF file (" + fileSize + " bytes)");
        }
        ByteBuffer h = ByteBuffer.wrap(ehdr).order(ByteOrder.LITTLE_ENDIAN);
        if (h.get(4) != 2 || h.get(5) != 1) {
            throw new LinuxBootException(what + " is an ELF file but not 64-bit little-endian: not an x86-64 vmlinux");
        }
        int type = Short.toUnsignedInt(h.getShort(0x10)), machine = Short.toUnsignedInt(h.getShort(0x12));
        if (type != ET_EXEC || machine != EM_X86_64) {
            throw new LinuxBootException(what + " is an ELF file of type " + type + " for machine " + machine
                    + ", not an x86-64 executable (a vmlinux is ET_EXEC, EM_X86_64)");
        }
        long entry = h.getLong(0x18), phoff = h.getLong(0x20);
        int phentsize = Short.toUnsignedInt(h.getShort(0x36)), phnum = Short.toUnsignedInt(h.getShort(0x38));
        if (phentsize != PHDR_BYTES || phnum == 0 || phnum > MAX_PHDRS || phoff < EHDR_BYTES
                || phoff > fileSize - (long) phnum * PHDR_BYTES) {
            throw new LinuxBootException(what + " has bad program headers (e_phoff " + phoff + ", e_phentsize "
                    + phentsize + ", e_phnum " + phnum + ", file " + fileSize + " bytes)");
        }
        ByteBuffer p = ByteBuffer.wrap(phdrs.read(phoff, phnum * PHDR_BYTES)).order(ByteOrder.LITTLE_ENDIAN);
        List<Segment> segments = new ArrayList<>();
        for (int i = 0; i < phnum; i++) {
            int o = i * PHDR_BYTES;
            if (p.getInt(o) != PT_LOAD) {
                continue;
            }
            long offset = p.getLong(o + 8), vaddr = p.getLong(o + 0x10), paddr = p.getLong(o + 0x18);
            long filesz = p.getLong(o + 0x20), memsz = p.getLong(o + 0x28);
            if (offset < 0 || filesz < 0 || offset > fileSize - filesz) {
                throw new LinuxBootException(what + " is truncated: segment " + i + " needs file bytes [" + offset + ", +"
                        + filesz + ") of " + fileSize);
            }
            if (memsz < filesz || paddr < LinuxLoader.MIN_KERNEL_ADDR || memsz > (1L << 40) || paddr > (1L << 40)) {
                throw new LinuxBootException(String.format("%s has an unloadable segment %d: paddr 0x%x, filesz 0x%x, memsz 0x%x"
                        + " (needs paddr >= 1 MiB and memsz >= filesz)", what, i, paddr, filesz, memsz));
            }
            if (memsz > 0) {
                segments.add(new Segment(offset, paddr, vaddr, filesz, memsz));
            }
        }
        if (segments.isEmpty()) {
            throw new LinuxBootException(what + " has no loadable segment");
        }
        segments.sort(Comparator.comparingLong(Segment::paddr));
        for (int i = 1; i < segments.size(); i++) {
            if (segments.get(i).paddr() < segments.get(i - 1).end()) {
                throw new LinuxBootException(what + " has overlapping segments at 0x" + Long.toHexString(segments.get(i).paddr()));
            }
        }
        Segment code = segments.stream().filter(s -> entry >= s.paddr() && entry < s.paddr() + s.fileSize())
                .findFirst().orElseThrow(() -> new LinuxBootException(String.format("%s's entry point 0x%x is not a physical"
                        + " address inside its loaded code (is it a vmlinux, whose entry is phys_startup_64?)", what, entry)));
        // A static user-space program (busybox, say) passes every check above; a kernel is linked high.
        if (Long.compareUnsigned(code.vaddr(), KERNEL_TEXT_MAP) < 0) {
            throw new LinuxBootException(String.format("%s is an x86-64 executable but not a Linux kernel: its code is linked at"
                    + " 0x%x, not in the kernel text mapping (0xffffffff80000000 and up)", what, code.vaddr()));
        }
        return new VmlinuxElf(entry, segments);
    }

    /** Reads bytes of the ELF file (program headers) for {@link #parse}. */
    @FunctionalInterface
    public interface PhdrReader {
        byte[] read(long offset, int length);
    }
}
