package io.d3vm.vmm.boot.testguest;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The test guest's binary (guest/README.md "Boot contract"): an ELF32 i386 executable whose PT_LOAD segments
 * lie in [1 MiB, 16 MiB), with a D3VM header (magic, version 1, 64-bit entry) 8-byte aligned in
 * its first 8 KiB. {@link #parse} checks every header field and offset against the file before
 * anything is used; {@link TestGuestLoader} then copies the segments into guest memory.
 *
 * @param bytes    the whole file
 * @param segments the PT_LOAD segments, by physical address
 * @param entry64  the physical address d3vm enters in long mode
 */
public record TestGuestImage(byte[] bytes, List<Segment> segments, long entry64) {
    /** Classpath resource the Maven build puts the guest at. */
    public static final String RESOURCE = "/guest/d3guest.elf";
    public static final long LOAD_MIN = 1L << 20;
    public static final long LOAD_MAX = 16L << 20;
    public static final int D3VM_MAGIC = 0x4D563344;
    public static final int HEADER_SEARCH = 8192;
    private static final int EHDR_SIZE = 52;
    private static final int PHDR_SIZE = 32;
    private static final int MAX_PHDRS = 64;
    private static final int PT_LOAD = 1;
    private static final int ET_EXEC = 2;
    private static final int EM_386 = 3;

    /** One PT_LOAD: {@code fileSize} bytes from {@code fileOffset} to {@code paddr}, then zeros up to {@code memSize}. */
    public record Segment(long paddr, long fileOffset, long fileSize, long memSize) {
        public long end() {
            return paddr + memSize;
        }
    }

    public TestGuestImage {
        bytes = bytes.clone();
        segments = List.copyOf(segments);
    }

    @Override
    public byte[] bytes() {
        return bytes.clone();
    }

    /** Reads the built-in guest from the classpath. */
    public static TestGuestImage builtIn() throws IOException {
        try (InputStream in = TestGuestImage.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IOException("the test guest " + RESOURCE + " is not on the classpath: build it with"
                        + " `mvn package` (needs gcc and make) or pass --guest-binary FILE");
            }
            return parse(in.readAllBytes(), "classpath:" + RESOURCE);
        }
    }

    public static TestGuestImage read(Path file) throws IOException {
        long size = Files.size(file);
        if (size > LOAD_MAX) {
            throw new IOException(file + " is " + size + " bytes, larger than any test guest can be (16 MiB)");
        }
        return parse(Files.readAllBytes(file), file.toString());
    }

    /** Validates and indexes an image; {@code name} appears in error messages. */
    public static TestGuestImage parse(byte[] file, String name) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        if (file.length < EHDR_SIZE) {
            throw bad(name, "is " + file.length + " bytes, shorter than an ELF header");
        }
        if (b.getInt(0) != 0x464c457f) {
            throw bad(name, "is not an ELF file (no \\x7fELF magic)");
        }
        if (file[4] != 1) {
            throw bad(name, "is not ELF32 (EI_CLASS " + file[4] + "); the test guest is an i386 Multiboot ELF");
        }
        if (file[5] != 1) {
            throw bad(name, "is not little-endian (EI_DATA " + file[5] + ")");
        }
        if (file[6] != 1 || b.getInt(20) != 1) {
            throw bad(name, "has an unknown ELF version");
        }
        if (u16(b, 16) != ET_EXEC) {
            throw bad(name, "is not an executable (e_type " + u16(b, 16) + ")");
        }
        if (u16(b, 18) != EM_386) {
            throw bad(name, "is not for i386 (e_machine " + u16(b, 18) + ")");
        }
        long phoff = u32(b, 28);
        int phentsize = u16(b, 42);
        int phnum = u16(b, 44);
        if (phentsize != PHDR_SIZE) {
            throw bad(name, "has program headers of " + phentsize + " bytes (ELF32 uses 32)");
        }
        if (phnum < 1 || phnum > MAX_PHDRS) {
            throw bad(name, "has " + phnum + " program headers (1.." + MAX_PHDRS + " expected)");
        }
        if (phoff > file.length || (long) phnum * PHDR_SIZE > file.length - phoff) {
            throw bad(name, "has program headers at " + phoff + " beyond the file's " + file.length + " bytes");
        }
        List<Segment> segs = new ArrayList<>();
        for (int i = 0; i < phnum; i++) {
            int o = (int) (phoff + (long) i * PHDR_SIZE);
            if (b.getInt(o) != PT_LOAD) {
                continue;
            }
            long offset = u32(b, o + 4);
            long paddr = u32(b, o + 12);
            long filesz = u32(b, o + 16);
            long memsz = u32(b, o + 20);
            if (memsz == 0) {
                continue;
            }
            if (filesz > memsz) {
                throw bad(name, "segment " + i + " has p_filesz " + filesz + " > p_memsz " + memsz);
            }
            if (offset > file.length || filesz > file.length - offset) {
                throw bad(name, "segment " + i + " reads " + filesz + " bytes at offset " + offset
                        + " beyond the file's " + file.length + " bytes");
            }
            if (paddr < LOAD_MIN || paddr + memsz > LOAD_MAX) {
                throw bad(name, String.format("segment %d at 0x%x..0x%x is outside [1 MiB, 16 MiB), where the"
                        + " contract puts the guest", i, paddr, paddr + memsz));
            }
            segs.add(new Segment(paddr, offset, filesz, memsz));
        }
        if (segs.isEmpty()) {
            throw bad(name, "has no PT_LOAD segment");
        }
        segs.sort(Comparator.comparingLong(Segment::paddr));
        for (int i = 1; i < segs.size(); i++) {
            if (segs.get(i).paddr() < segs.get(i - 1).end()) {
                throw bad(name, String.format("segments at 0x%x and 0x%x overlap", segs.get(i - 1).paddr(), segs.get(i).paddr()));
            }
        }
        long entry = findEntry64(b, file.length, name);
        boolean inside = false;
        for (Segment s : segs) {
            inside |= entry >= s.paddr() && entry < s.paddr() + s.fileSize();
        }
        if (!inside) {
            throw bad(name, String.format("entry64 0x%x is not inside a loaded segment", entry));
        }
        return new TestGuestImage(file, segs, entry);
    }

    private static long findEntry64(ByteBuffer b, int length, String name) throws IOException {
        int limit = Math.min(length, HEADER_SEARCH);
        for (int o = 0; o + 24 <= limit; o += 8) {
            if (b.getInt(o) != D3VM_MAGIC) {
                continue;
            }
            int version = b.getInt(o + 4);
            if (version != 1) {
                throw bad(name, "has a D3VM header of version " + version + "; this d3vm reads version 1");
            }
            long entry = b.getLong(o + 8);
            if (b.getLong(o + 16) != 0) {
                throw bad(name, "has a D3VM header whose reserved field is not 0");
            }
            return entry;
        }
        throw bad(name, "has no D3VM header (magic 0x4D563344, 8-byte aligned) in its first " + HEADER_SEARCH + " bytes");
    }

    private static int u16(ByteBuffer b, int o) {
        return b.getShort(o) & 0xffff;
    }

    private static long u32(ByteBuffer b, int o) {
        return b.getInt(o) & 0xffffffffL;
    }

    private static IOException bad(String name, String what) {
        return new IOException("test guest " + name + " " + what);
    }
}
