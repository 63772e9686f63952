package io.d3vm.memory;

import io.d3vm.sys.LibC;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * A guest memory image on disk, mapped read-only as {@link GuestMemory}: either raw (guest RAM
 * byte for byte from guest-physical 0) or an ELF core as QEMU's {@code dump-guest-memory} writes
 * it, whose {@code PT_LOAD} program headers give each block's guest-physical address
 * ({@code p_paddr}) and file offset. Used by {@code d3vm analyze} and the detector benchmarks.
 *
 * <p>Every header field is checked against the file before it is used: a truncated or corrupt
 * file gives an {@link ImageException} naming the field, never a read outside the mapping.
 *
 * @param path      the file
 * @param format    raw or ELF
 * @param fileSize  bytes in the file
 * @param blocks    the memory blocks, in guest-physical order (one for a raw image)
 * @param memory    the blocks as read-only guest memory; closing the image unmaps the file
 */
public record MemoryImage(Path path, Format format, long fileSize, List<Block> blocks, GuestMemory memory)
        implements AutoCloseable {

    public enum Format { RAW, ELF }

    /**
     * One block of guest memory in the file.
     *
     * @param guestPhysAddr  {@code p_paddr} (0 for raw)
     * @param fileOffset     where its bytes start in the file
     * @param size           bytes present in the file
     * @param missingBytes   {@code p_memsz - p_filesz}: memory the dump left out (filtered dumps)
     */
    public record Block(long guestPhysAddr, long fileOffset, long size, long missingBytes) {}

    /** A memory image that cannot be used, with what is wrong and where. */
    public static final class ImageException extends IOException {
        public ImageException(String message) {
            super(message);
        }
    }

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static final int EHDR_SIZE = 64;
    private static final int PHDR_SIZE = 56;
    private static final int SHDR_SIZE = 64;
    private static final int ET_CORE = 4;
    private static final int EM_X86_64 = 62;
    private static final int PT_LOAD = 1;
    private static final int PN_XNUM = 0xffff;

    /** Maps {@code path} read-only and reads its layout; raw unless it starts with the ELF magic. */
    public static MemoryImage open(Path path) throws IOException {
        if (!Files.exists(path)) {
            throw new ImageException(path + ": no such file");
        }
        if (!Files.isRegularFile(path)) {
            throw new ImageException(path + ": not a regular file");
        }
        if (!Files.isReadable(path)) {
            throw new ImageException(path + ": permission denied");
        }
        long size = Files.size(path);
        if (size == 0) {
            throw new ImageException(path + ": empty file");
        }
        MemorySegment file = LibC.mmapFileReadOnly(path.toString(), size);
        try {
            boolean elf = size >= 4 && file.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN), 0) == 0x7f454c46;
            List<Block> blocks = elf ? elfBlocks(path, file, size) : rawBlocks(path, size);
            MemoryLayout layout;
            try {
                layout = new MemoryLayout(blocks.stream()
                        .map(b -> new MemoryLayout.Range(b.guestPhysAddr(), b.size())).toList());
            } catch (IllegalArgumentException e) {
                throw new ImageException(path + ": memory blocks do not form a layout: " + e.getMessage());
            }
            List<MemorySegment> slices = blocks.stream().map(b -> file.asSlice(b.fileOffset(), b.size())).toList();
            GuestMemory memory = GuestMemory.ofImage(layout, slices, file);
            return new MemoryImage(path, elf ? Format.ELF : Format.RAW, size, blocks, memory);
        } catch (IOException | RuntimeException e) {
            LibC.munmap(file);
            throw e;
        }
    }

    private static List<Block> rawBlocks(Path path, long size) throws ImageException {
        if ((size & GuestMemory.PAGE_MASK) != 0) {
            throw new ImageException(path + ": raw image of " + size + " bytes is not a multiple of 4096"
                    + " (a raw image is guest RAM byte for byte; an ELF core starts with \\x7fELF)");
        }
        return List.of(new Block(0, 0, size, 0));
    }

    private static List<Block> elfBlocks(Path path, MemorySegment f, long size) throws ImageException {
        String where = path + ": ELF core: ";
        if (size < EHDR_SIZE) {
            throw new ImageException(where + "truncated: " + size + " bytes, the ELF header alone is " + EHDR_SIZE);
        }
        if (f.get(ValueLayout.JAVA_BYTE, 4) != 2) {
            throw new ImageException(where + "not 64-bit (EI_CLASS " + f.get(ValueLayout.JAVA_BYTE, 4) + ")");
        }
        if (f.get(ValueLayout.JAVA_BYTE, 5) != 1) {
            throw new ImageException(where + "not little-endian (EI_DATA " + f.get(ValueLayout.JAVA_BYTE, 5) + ")");
        }
        int type = Short.toUnsignedInt(f.get(U16, 16));
        if (type != ET_CORE) {
            throw new ImageException(where + "e_type " + type + " is not ET_CORE (4): use a dump-guest-memory core");
        }
        int machine = Short.toUnsignedInt(f.get(U16, 18));
        if (machine != EM_X86_64) {
            throw new ImageException(where + "e_machine " + machine + " is not x86-64 (62)");
        }
        long phoff = f.get(U64, 32);
        long shoff = f.get(U64, 40);
        int phentsize = Short.toUnsignedInt(f.get(U16, 54));
        long phnum = Short.toUnsignedInt(f.get(U16, 56));
        if (phentsize < PHDR_SIZE) {
            throw new ImageException(where + "e_phentsize " + phentsize + " is smaller than a 64-bit program header (" + PHDR_SIZE + ")");
        }
        if (phnum == PN_XNUM) {
            // More than 65534 headers: the real count is sh_info of section header 0.
            if (shoff < 0 || shoff > size - SHDR_SIZE) {
                throw new ImageException(where + "e_phnum is PN_XNUM but section header 0 at e_shoff " + shoff
                        + " lies beyond the file's " + size + " bytes (truncated?)");
            }
            phnum = Integer.toUnsignedLong(f.get(U32, shoff + 44));
        }
        if (phnum == 0) {
            throw new ImageException(where + "no program headers");
        }
        if (phoff < 0 || phoff > size || phnum > (size - phoff) / phentsize) {
            throw new ImageException(where + phnum + " program headers at e_phoff " + phoff
                    + " run past the end of the file (" + size + " bytes): truncated?");
        }
        List<Block> blocks = new ArrayList<>();
        for (long i = 0; i < phnum; i++) {
            long ph = phoff + i * phentsize;
            if (f.get(U32, ph) != PT_LOAD) {
                continue;
            }
            long offset = f.get(U64, ph + 8);
            long paddr = f.get(U64, ph + 24);
            long filesz = f.get(U64, ph + 32);
            long memsz = f.get(U64, ph + 40);
            String seg = where + "PT_LOAD #" + i + " (p_paddr 0x" + Long.toHexString(paddr) + "): ";
            if (filesz == 0) {
                continue;
            }
            if (offset < 0 || filesz < 0 || offset > size || filesz > size - offset) {
                throw new ImageException(seg + "p_offset " + offset + " + p_filesz " + filesz
                        + " lies beyond the end of the file (" + size + " bytes): truncated?");
            }
            if ((paddr & GuestMemory.PAGE_MASK) != 0 || paddr < 0) {
                throw new ImageException(seg + "guest-physical address is not page aligned");
            }
            if ((filesz & GuestMemory.PAGE_MASK) != 0) {
                throw new ImageException(seg + "p_filesz " + filesz + " is not a multiple of 4096");
            }
            if (Long.compareUnsigned(memsz, filesz) < 0) {
                throw new ImageException(seg + "p_memsz " + memsz + " is smaller than p_filesz " + filesz);
            }
            blocks.add(new Block(paddr, offset, filesz, memsz - filesz));
        }
        if (blocks.isEmpty()) {
            throw new ImageException(where + "no PT_LOAD segment with data: nothing to analyse");
        }
        blocks.sort(Comparator.comparingLong(Block::guestPhysAddr));
        return List.copyOf(blocks);
    }

    @Override
    public void close() {
        memory.close();
    }
}
