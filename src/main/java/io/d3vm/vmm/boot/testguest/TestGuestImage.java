package io.d3vm.vmm.boot.testguest;

import io.d3vm.vmm.boot.Elf32Executable;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
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
        Elf32Executable elf;
        try {
            elf = Elf32Executable.parse(file, LOAD_MIN, LOAD_MAX, "[1 MiB, 16 MiB), where the contract puts the guest");
        } catch (IllegalArgumentException e) {
            throw bad(name, e.getMessage());
        }
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        long entry = findEntry64(b, file.length, name);
        if (!elf.loads(entry)) {
            throw bad(name, String.format("entry64 0x%x is not inside a loaded segment", entry));
        }
        List<Segment> segs = elf.segments().stream().map(s -> new Segment(s.paddr(), s.fileOffset(), s.fileSize(), s.memSize())).toList();
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

    private static IOException bad(String name, String what) {
        return new IOException("test guest " + name + " " + what);
    }
}
