package io.d3vm.memory;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Writes guest memory as an ELF core of the shape QEMU's {@code dump-guest-memory} produces and
 * {@link MemoryImage#open} reads: an x86-64 {@code ET_CORE} file with one {@code PT_LOAD} program
 * header per memory region, {@code p_paddr} its guest-physical address. Called by the control API's
 * {@code dump-guest-memory} and {@code d3vm run --dump-memory}, so that {@code d3vm analyze} and the
 * benchmarks can classify a d3vm guest's own memory.
 *
 * <p>Zero pages and pages the host never backed are left as holes (the file is sparse): a mostly
 * empty guest costs little disk, and a hole reads back as zeros, which is what the page held. The
 * file is written under a temporary name in the same directory and renamed at the end, so a reader
 * never sees half an image under the final name.
 *
 * <p>The caller keeps the memory still (guest paused) while this runs; otherwise the image is a
 * smear of several moments, as any live dump would be.
 */
public final class ElfCoreWriter {
    private static final int EHDR_SIZE = 64;
    private static final int PHDR_SIZE = 56;
    private static final int ET_CORE = 4;
    private static final int EM_X86_64 = 62;
    private static final int PT_LOAD = 1;
    private static final int PF_RWX = 7;
    /** More program headers than this needs the PN_XNUM extension, which no d3vm layout comes near. */
    private static final int MAX_PHNUM = 0xfffe;

    private ElfCoreWriter() {}

    /** What a dump wrote. */
    public record Result(Path path, long fileBytes, long pages, long pagesWritten) {}

    /** Writes {@code memory} to {@code path} (replacing it). */
    public static Result write(GuestMemory memory, Path path) throws IOException {
        var regions = memory.regions();
        if (regions.size() > MAX_PHNUM) {
            throw new IOException("a memory layout of " + regions.size() + " regions needs more program headers than an ELF core holds");
        }
        long headers = EHDR_SIZE + (long) PHDR_SIZE * regions.size();
        long dataStart = align(headers, GuestMemory.PAGE_SIZE);
        ByteBuffer head = ByteBuffer.allocate((int) headers).order(ByteOrder.LITTLE_ENDIAN);
        head.put(new byte[] {0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* LE */, 1 /* EV_CURRENT */, 0 /* SysV */});
        head.position(16);
        head.putShort((short) ET_CORE).putShort((short) EM_X86_64).putInt(1);
        head.putLong(0);                 // e_entry
        head.putLong(EHDR_SIZE);         // e_phoff
        head.putLong(0);                 // e_shoff: no section headers
        head.putInt(0);                  // e_flags
        head.putShort((short) EHDR_SIZE).putShort((short) PHDR_SIZE).putShort((short) regions.size());
        head.putShort((short) 64).putShort((short) 0).putShort((short) 0);
        long offset = dataStart;
        for (MemoryRegion r : regions) {
            head.putInt(PT_LOAD).putInt(PF_RWX);
            head.putLong(offset).putLong(0 /* p_vaddr */).putLong(r.guestPhysAddr());
            head.putLong(r.size()).putLong(r.size()).putLong(GuestMemory.PAGE_SIZE);
            offset += r.size();
        }
        long fileBytes = offset;
        head.flip();

        Path dir = path.toAbsolutePath().getParent();
        Path tmp = Files.createTempFile(dir, "." + path.getFileName() + ".", ".part");
        long written = 0;
        boolean ok = false;
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(ch, head, 0);
            long fileOff = dataStart;
            boolean[] resident = new boolean[4096];
            for (MemoryRegion r : regions) {
                for (long p = 0; p < r.pages(); p += resident.length) {
                    int n = (int) Math.min(resident.length, r.pages() - p);
                    memory.residentPages(r.firstPageIndex() + p, n, resident);
                    for (int i = 0; i < n; i++) {
                        long at = (p + i) << GuestMemory.PAGE_SHIFT;
                        // SAFETY: a slice of the region's own host mapping, inside its bounds.
                        MemorySegment page = r.host().asSlice(at, GuestMemory.PAGE_SIZE);
                        if (resident[i] && !isZero(page)) {
                            writeFully(ch, page.asByteBuffer(), fileOff + at);
                            written++;
                        }
                    }
                }
                fileOff += r.size();
            }
            ch.truncate(fileBytes); // no-op unless the last pages were holes
            if (ch.size() < fileBytes) {
                ch.write(ByteBuffer.allocate(1), fileBytes - 1); // extend over a trailing hole
            }
            ch.force(true);
            ok = true;
        } finally {
            if (!ok) {
                Files.deleteIfExists(tmp);
            }
        }
        Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        return new Result(path, fileBytes, memory.pageCount(), written);
    }

    private static final MemorySegment ZERO_PAGE = MemorySegment.ofArray(new byte[GuestMemory.PAGE_SIZE]);

    private static boolean isZero(MemorySegment page) {
        return page.mismatch(ZERO_PAGE) < 0; // the JDK's vectorized compare
    }

    private static void writeFully(FileChannel ch, ByteBuffer b, long at) throws IOException {
        while (b.hasRemaining()) {
            at += ch.write(b, at);
        }
    }

    private static long align(long v, long a) {
        return (v + a - 1) & -a;
    }
}
