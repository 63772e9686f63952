package io.d3vm.vmm.boot.testguest;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryImage;
import io.d3vm.vmm.boot.LongMode;
import io.d3vm.vmm.vstate.X86Layout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TestGuestLoaderTest {
    static final byte[] CODE = {0x11, 0x22, 0x33, (byte) 0xf4};

    @Test
    void shouldLoadSegmentsZeroBssAndWriteMultibootInfoPerTheContract() throws Exception {
        TestGuestSpec spec = TestGuestSpec.parse("test:verify,mem=64M,seed=9");
        try (GuestMemory mem = GuestMemory.allocate(X86Layout.forMemory(spec.memBytes()))) {
            // Dirty the bss area first: the loader must zero it.
            long bssStart = TestGuestElf.LOAD_ADDR + TestGuestElf.CODE_OFFSET + CODE.length;
            mem.slice(bssStart, 0x1000).fill((byte) 0x5a);
            TestGuestImage img = TestGuestImage.parse(TestGuestElf.build(CODE, 0x1000), "t");
            TestGuestLoader.Boot boot = TestGuestLoader.load(mem, img, spec, null);

            assertThat(mem.slice(TestGuestElf.ENTRY64, 4).toArray(JAVA_BYTE)).containsExactly(CODE);
            assertThat(mem.slice(bssStart, 0x1000).toArray(JAVA_BYTE)).containsOnly(0);
            assertThat(boot.cpu().rip()).isEqualTo(TestGuestElf.ENTRY64);
            assertThat(boot.cpu().rdi()).isEqualTo(0x7000);
            assertThat(boot.cpu().rsp()).isZero();
            assertThat(boot.cpu().cr3()).isEqualTo(LongMode.PML4_ADDR);
            assertThat(boot.rax()).isEqualTo(0x2BADB002L);

            MemorySegment info = mem.slice(0x7000, 0x100);
            assertThat(info.get(JAVA_INT_UNALIGNED, 0)).isEqualTo(0x45);
            assertThat(info.get(JAVA_INT_UNALIGNED, 8)).isEqualTo(63 * 1024); // KiB above 1 MiB
            assertThat(info.get(JAVA_INT_UNALIGNED, 16)).isEqualTo(0x8000);
            assertThat(info.get(JAVA_INT_UNALIGNED, 44)).isEqualTo(2 * 24);
            assertThat(info.get(JAVA_INT_UNALIGNED, 48)).isEqualTo(0x7100);
            MemorySegment map = mem.slice(0x7100, 48);
            assertThat(map.get(JAVA_INT_UNALIGNED, 24)).isEqualTo(20);
            assertThat(map.get(JAVA_LONG_UNALIGNED, 24 + 4)).isEqualTo(1L << 20);
            assertThat(map.get(JAVA_LONG_UNALIGNED, 24 + 12)).isEqualTo((64L << 20) - (1L << 20));
            assertThat(map.get(JAVA_INT_UNALIGNED, 24 + 20)).isEqualTo(1);
            assertThat(mem.slice(0x8000, 64).getString(0)).isEqualTo("verify seed=9");
        }
    }

    @Test
    void shouldListRamAbove4GiBInTheMemoryMapOfALargeGuest() throws Exception {
        long size = (3L << 30) + (64L << 20);
        TestGuestSpec spec = TestGuestSpec.parse("test:idle,mem=" + (size >> 20) + "M");
        try (GuestMemory mem = GuestMemory.allocate(X86Layout.forMemory(size))) {
            TestGuestLoader.load(mem, TestGuestImage.parse(TestGuestElf.build(CODE, 0), "t"), spec, null);
            MemorySegment info = mem.slice(0x7000, 0x100);
            assertThat(info.get(JAVA_INT_UNALIGNED, 44)).isEqualTo(3 * 24);
            MemorySegment map = mem.slice(0x7100, 72);
            assertThat(map.get(JAVA_LONG_UNALIGNED, 48 + 4)).isEqualTo(4L << 30);
            assertThat(map.get(JAVA_LONG_UNALIGNED, 48 + 12)).isEqualTo(64L << 20);
        }
    }

    @Test
    void shouldPlaceAMemoryImageAt16MiBAndTellTheGuestWhere(@TempDir Path dir) throws Exception {
        Path raw = dir.resolve("img.raw");
        byte[] content = new byte[3 * 4096];
        for (int i = 0; i < content.length; i++) {
            content[i] = (byte) (i * 7);
        }
        Files.write(raw, content);
        TestGuestSpec spec = TestGuestSpec.parse("test:image,mem=64M");
        try (GuestMemory mem = GuestMemory.allocate(X86Layout.forMemory(spec.memBytes()));
             MemoryImage img = MemoryImage.open(raw)) {
            TestGuestLoader.Boot boot = TestGuestLoader.load(mem, TestGuestImage.parse(TestGuestElf.build(CODE, 0), "t"), spec, img);
            assertThat(boot.commandLine()).isEqualTo("image image=0x1000000:0x3000");
            assertThat(mem.slice(16L << 20, content.length).toArray(JAVA_BYTE)).containsExactly(content);
        }
    }

    @Test
    void shouldRefuseAnImageThatDoesNotFit(@TempDir Path dir) throws Exception {
        Path raw = dir.resolve("big.raw");
        Files.write(raw, new byte[8 << 20]);
        TestGuestSpec spec = TestGuestSpec.parse("test:image,mem=32M,image=0x1c00000:0x800000");
        try (GuestMemory mem = GuestMemory.allocate(X86Layout.forMemory(spec.memBytes()));
             MemoryImage img = MemoryImage.open(raw)) {
            TestGuestImage guest = TestGuestImage.parse(TestGuestElf.build(CODE, 0), "t");
            assertThatThrownBy(() -> TestGuestLoader.load(mem, guest, spec, img)).hasMessageContaining("does not fit");
        }
    }
}
