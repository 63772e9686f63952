package io.d3vm.vmm.boot.multiboot;

import io.d3vm.memory.GuestMemory;
import io.d3vm.testing.MultibootKernels;
import io.d3vm.vmm.boot.BootEntry;
import io.d3vm.vmm.boot.PreparedGuest;
import io.d3vm.vmm.vstate.X86Layout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** What the Multiboot loader leaves in memory and registers, read back without running anything. */
class MultibootGuestBootTest {
    @TempDir
    Path dir;

    @Test
    void shouldLeaveTheInformationStructureTheSpecificationDescribes() throws Exception {
        Path kernel = MultibootKernels.elf(dir, 3);
        Path m1 = dir.resolve("m1.txt");
        Files.writeString(m1, "first module\n");
        Path m2 = dir.resolve("m2.bin");
        Files.write(m2, new byte[5000]);
        MultibootGuestBoot boot = MultibootGuestBoot.prepare(X86Layout.forMemory(64L << 20), kernel, "console=ttyS0 quiet",
                List.of(m1 + ",alpha beta", m2.toString()), 1);
        assertThat(boot.description()).isEqualTo("multiboot:" + kernel.getFileName() + ",mem=64M");
        try (GuestMemory mem = GuestMemory.allocate(X86Layout.forMemory(64L << 20))) {
            PreparedGuest.Loaded loaded = boot.load(mem);
            BootEntry.Protected32 e = (BootEntry.Protected32) loaded.entry();
            assertThat(e.eax()).isEqualTo(0x2BADB002L);
            assertThat(e.ebx()).isEqualTo(MultibootInfo.INFO_ADDR);
            assertThat(e.eip()).isEqualTo(boot.kernel().entry());
            assertThat(mem.slice(e.gdtBase(), 8 * 5).get(JAVA_LONG_UNALIGNED, BootEntry.Protected32.CODE_SELECTOR))
                    .as("the GDT's code descriptor: flat, 32-bit, execute/read").isEqualTo(0x00CF9B000000FFFFL);

            MemorySegment info = mem.slice(MultibootInfo.INFO_ADDR, 0x100);
            int flags = info.get(JAVA_INT_UNALIGNED, 0);
            assertThat(flags).as("mem, cmdline, mods, mmap, boot loader name").isEqualTo(1 | 4 | 8 | 64 | 512);
            assertThat(info.get(JAVA_INT_UNALIGNED, 4)).as("mem_lower KiB").isEqualTo(639);
            assertThat(info.get(JAVA_INT_UNALIGNED, 8)).as("mem_upper KiB").isEqualTo(63 * 1024);
            assertThat(cString(mem, info.get(JAVA_INT_UNALIGNED, 16))).isEqualTo(kernel + " console=ttyS0 quiet");
            assertThat(cString(mem, info.get(JAVA_INT_UNALIGNED, 64))).isEqualTo("d3vm");

            assertThat(info.get(JAVA_INT_UNALIGNED, 20)).as("mods_count").isEqualTo(2);
            MemorySegment mods = mem.slice(info.get(JAVA_INT_UNALIGNED, 24), 32);
            long start1 = mods.get(JAVA_INT_UNALIGNED, 0) & 0xffffffffL;
            long end1 = mods.get(JAVA_INT_UNALIGNED, 4) & 0xffffffffL;
            long start2 = mods.get(JAVA_INT_UNALIGNED, 16) & 0xffffffffL;
            long end2 = mods.get(JAVA_INT_UNALIGNED, 20) & 0xffffffffL;
            assertThat(start1 % 4096).isZero();
            assertThat(start1).as("above the kernel").isGreaterThanOrEqualTo(boot.kernel().end());
            assertThat(end1 - start1).isEqualTo(13);
            assertThat(new String(mem.slice(start1, 13).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII))
                    .isEqualTo("first module\n");
            assertThat(cString(mem, mods.get(JAVA_INT_UNALIGNED, 8))).isEqualTo(m1 + " alpha beta");
            assertThat(start2).as("page-aligned after the first").isEqualTo(start1 + 4096);
            assertThat(end2 - start2).isEqualTo(5000);
            assertThat(cString(mem, mods.get(JAVA_INT_UNALIGNED, 24))).isEqualTo(m2.toString());

            int mmapLength = info.get(JAVA_INT_UNALIGNED, 44);
            MemorySegment mmap = mem.slice(info.get(JAVA_INT_UNALIGNED, 48), mmapLength);
            assertThat(mmapLength).as("two entries of 24 bytes").isEqualTo(48);
            assertThat(mmap.get(JAVA_LONG_UNALIGNED, 4)).isZero();
            assertThat(mmap.get(JAVA_LONG_UNALIGNED, 12)).isEqualTo(0x9fc00);
            assertThat(mmap.get(JAVA_LONG_UNALIGNED, 24 + 4)).isEqualTo(1L << 20);
            assertThat(mmap.get(JAVA_LONG_UNALIGNED, 24 + 12)).isEqualTo(63L << 20);
            assertThat(mmap.get(JAVA_INT_UNALIGNED, 24 + 20)).as("type RAM").isEqualTo(1);
        }
    }

    @Test
    void shouldRefuseModulesThatDoNotFitBeforeAnyVmExists() throws Exception {
        Path kernel = MultibootKernels.elf(dir, 3);
        Path big = dir.resolve("big.bin");
        Files.write(big, new byte[40 << 20]);
        assertThatThrownBy(() -> MultibootGuestBoot.prepare(X86Layout.forMemory(32L << 20), kernel, "", List.of(big.toString()), 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--module " + big).hasMessageContaining("more --mem");
        assertThatThrownBy(() -> MultibootGuestBoot.prepare(X86Layout.forMemory(32L << 20), kernel, "", List.of(dir.resolve("none").toString()), 1))
                .hasMessageContaining("no such file");
    }

    private static String cString(GuestMemory mem, int addr) {
        MemorySegment s = mem.slice(addr & 0xffffffffL, 4096);
        return s.getString(0, StandardCharsets.US_ASCII);
    }
}
