package io.d3vm.memory;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static io.d3vm.memory.GuestMemory.PAGE_SIZE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class MemoryImageTest {
    @TempDir
    Path dir;

    private Path write(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    private static byte[] pages(int n, int fill) {
        byte[] b = new byte[n * PAGE_SIZE];
        Arrays.fill(b, (byte) fill);
        return b;
    }

    @Test
    void shouldMapARawImageFromGuestPhysicalZero() throws IOException {
        byte[] raw = pages(3, 0);
        raw[PAGE_SIZE + 7] = 42;
        try (MemoryImage img = MemoryImage.open(write("raw.img", raw))) {
            assertThat(img.format()).isEqualTo(MemoryImage.Format.RAW);
            assertThat(img.memory().pageCount()).isEqualTo(3);
            assertThat(img.memory().page(1).get(ValueLayout.JAVA_BYTE, 7)).isEqualTo((byte) 42);
            boolean[] res = new boolean[3];
            img.memory().residentPages(0, 3, res);
            assertThat(res).as("file pages always hold data").containsOnly(true);
            assertThatThrownBy(() -> img.memory().page(0).set(ValueLayout.JAVA_BYTE, 0, (byte) 1))
                    .hasMessageContaining("read-only");
        }
    }

    @Test
    void shouldRejectARawImageThatIsNotWholePages() throws IOException {
        Path p = write("odd.img", new byte[PAGE_SIZE + 100]);
        assertThatThrownBy(() -> MemoryImage.open(p)).isInstanceOf(MemoryImage.ImageException.class)
                .hasMessageContaining("not a multiple of 4096");
    }

    @Test
    void shouldRejectEmptyAndMissingFiles() throws IOException {
        Path empty = write("empty.img", new byte[0]);
        assertThatThrownBy(() -> MemoryImage.open(empty)).hasMessageContaining("empty file");
        assertThatThrownBy(() -> MemoryImage.open(dir.resolve("nope"))).hasMessageContaining("no such file");
    }

    @Test
    void shouldPlaceEachLoadAtItsGuestPhysicalAddress() throws IOException {
        byte[] high = pages(2, 0xcc);
        byte[] low = pages(1, 0);
        low[5] = 9;
        // listed out of order, like nothing forbids: the image sorts by address
        byte[] core = new ElfCoreBuilder().load(0x100000, high).load(0, low).build();
        try (MemoryImage img = MemoryImage.open(write("core.elf", core))) {
            assertThat(img.format()).isEqualTo(MemoryImage.Format.ELF);
            assertThat(img.blocks()).extracting(MemoryImage.Block::guestPhysAddr).containsExactly(0L, 0x100000L);
            assertThat(img.blocks().getFirst().fileOffset() % PAGE_SIZE).as("data is unaligned in the file").isNotZero();
            GuestMemory m = img.memory();
            assertThat(m.pageCount()).isEqualTo(3);
            assertThat(m.slice(0, PAGE_SIZE).get(ValueLayout.JAVA_BYTE, 5)).isEqualTo((byte) 9);
            assertThat(m.slice(0x101000, PAGE_SIZE).get(ValueLayout.JAVA_BYTE, 4095)).isEqualTo((byte) 0xcc);
        }
    }

    @Test
    void shouldReadTheProgramHeaderCountFromSectionZeroWhenPnXnum() throws IOException {
        byte[] core = new ElfCoreBuilder().load(0, pages(1, 1)).load(0x2000, pages(1, 2)).xnum().build();
        try (MemoryImage img = MemoryImage.open(write("xnum.elf", core))) {
            assertThat(img.blocks()).hasSize(2);
        }
    }

    @Test
    void shouldRejectATruncatedElf() throws IOException {
        byte[] core = new ElfCoreBuilder().load(0, pages(1, 0)).build();
        Path headerOnly = write("t1.elf", Arrays.copyOf(core, 40));
        assertThatThrownBy(() -> MemoryImage.open(headerOnly)).hasMessageContaining("truncated");
        Path noPhdrs = write("t2.elf", Arrays.copyOf(core, ElfCoreBuilder.EHDR + 10));
        assertThatThrownBy(() -> MemoryImage.open(noPhdrs)).hasMessageContaining("run past the end of the file");
        Path shortData = write("t3.elf", Arrays.copyOf(core, core.length - 1));
        assertThatThrownBy(() -> MemoryImage.open(shortData)).hasMessageContaining("beyond the end of the file")
                .hasMessageContaining("PT_LOAD #1");
    }

    @Test
    void shouldRejectALoadBeyondTheEndOfTheFile() throws IOException {
        byte[] core = new ElfCoreBuilder().load(0, pages(1, 0)).build();
        ByteBuffer b = ByteBuffer.wrap(core).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(ElfCoreBuilder.phdrOffset(1) + 8, Long.MAX_VALUE - 10); // p_offset: overflow bait
        Path p = write("beyond.elf", core);
        assertThatThrownBy(() -> MemoryImage.open(p)).isInstanceOf(MemoryImage.ImageException.class)
                .hasMessageContaining("beyond the end of the file");
    }

    @Test
    void shouldRejectLoadsThatAreNotWholePagesOrOverlap() throws IOException {
        byte[] core = new ElfCoreBuilder().load(0, pages(2, 0)).build();
        ByteBuffer.wrap(core).order(ByteOrder.LITTLE_ENDIAN).putLong(ElfCoreBuilder.phdrOffset(1) + 32, 100);
        Path p = write("partial.elf", core);
        assertThatThrownBy(() -> MemoryImage.open(p)).hasMessageContaining("not a multiple of 4096");

        byte[] overlap = new ElfCoreBuilder().load(0, pages(2, 0)).load(0x1000, pages(1, 0)).build();
        Path q = write("overlap.elf", overlap);
        assertThatThrownBy(() -> MemoryImage.open(q)).hasMessageContaining("overlap");
    }

    @Test
    void shouldRejectElfFilesThatAreNotX86CoreDumps() throws IOException {
        Path exec = write("exec.elf", new ElfCoreBuilder().type(2).load(0, pages(1, 0)).build());
        assertThatThrownBy(() -> MemoryImage.open(exec)).hasMessageContaining("not ET_CORE");
        byte[] core32 = new ElfCoreBuilder().load(0, pages(1, 0)).build();
        core32[4] = 1;
        Path p32 = write("c32.elf", core32);
        assertThatThrownBy(() -> MemoryImage.open(p32)).hasMessageContaining("not 64-bit");
        Path noLoads = write("noload.elf", new ElfCoreBuilder().build());
        assertThatThrownBy(() -> MemoryImage.open(noLoads)).hasMessageContaining("no PT_LOAD");
    }
}
