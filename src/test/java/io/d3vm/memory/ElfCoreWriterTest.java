package io.d3vm.memory;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static io.d3vm.memory.GuestMemory.PAGE_SIZE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ElfCoreWriterTest {
    @TempDir
    Path dir;

    /** Two regions with a hole between them, like a guest with RAM below and above a PCI gap. */
    private static final MemoryLayout LAYOUT = MemoryLayout.of(0, 64L * PAGE_SIZE, 0x100000, 32L * PAGE_SIZE);

    @ParameterizedTest
    @ValueSource(longs = {1, 7, 42})
    void shouldReadBackEveryPageAtItsGuestPhysicalAddress(long seed) throws IOException {
        Random rnd = new Random(seed);
        try (GuestMemory mem = GuestMemory.allocate(LAYOUT)) {
            long nonZero = 0;
            for (long p = 0; p < mem.pageCount(); p++) {
                MemorySegment page = mem.page(p);
                switch (rnd.nextInt(5)) {
                    case 0 -> { } // never touched: not resident, a hole in the file
                    case 1 -> page.set(ValueLayout.JAVA_BYTE, 0, (byte) 0); // touched but zero
                    case 2 -> {
                        page.set(ValueLayout.JAVA_BYTE, PAGE_SIZE - 1, (byte) 9); // only the last byte
                        nonZero++;
                    }
                    default -> {
                        for (long o = 0; o < PAGE_SIZE; o += 8) {
                            page.set(ValueLayout.JAVA_LONG, o, rnd.nextLong() | 1);
                        }
                        nonZero++;
                    }
                }
            }
            // The last page non-zero on some seeds and a hole on others: both file ends are covered.
            Path out = dir.resolve("core.elf");
            ElfCoreWriter.Result r = ElfCoreWriter.write(mem, out);
            assertThat(r.pages()).isEqualTo(96);
            assertThat(r.pagesWritten()).isEqualTo(nonZero);
            assertThat(Files.size(out)).isEqualTo(r.fileBytes());

            try (MemoryImage img = MemoryImage.open(out)) {
                assertThat(img.format()).isEqualTo(MemoryImage.Format.ELF);
                assertThat(img.memory().layout()).isEqualTo(LAYOUT);
                for (long p = 0; p < mem.pageCount(); p++) {
                    assertThat(img.memory().page(p).mismatch(mem.page(p))).as("page %d", p).isEqualTo(-1L);
                }
            }
        }
    }

    @Test
    void shouldReplaceAnExistingFileAndLeaveNoTemporaryBehind() throws IOException {
        Path out = dir.resolve("core.elf");
        Files.writeString(out, "old");
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(4L * PAGE_SIZE))) {
            mem.page(2).set(ValueLayout.JAVA_INT, 100, 0xabcdef);
            ElfCoreWriter.write(mem, out);
        }
        try (MemoryImage img = MemoryImage.open(out)) {
            assertThat(img.memory().page(2).get(ValueLayout.JAVA_INT, 100)).isEqualTo(0xabcdef);
        }
        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("core.elf");
        }
    }

    @Test
    void shouldFailWithTheReasonWhenTheDirectoryIsMissing() {
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(4L * PAGE_SIZE))) {
            assertThatThrownBy(() -> ElfCoreWriter.write(mem, dir.resolve("no/such/dir/core.elf")))
                    .isInstanceOf(IOException.class);
        }
    }
}
