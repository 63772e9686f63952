package io.d3vm.vmm.boot.multiboot;

import io.d3vm.testing.MultibootKernels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class MultibootKernelTest {
    @TempDir
    Path dir;

    @Test
    void shouldLoadTheElfSegmentsOfAnAssembledKernelAndEnterAtItsEntry() throws Exception {
        byte[] file = Files.readAllBytes(MultibootKernels.elf(dir, 3));
        MultibootKernel k = MultibootKernel.parse(file, "mbk.elf");
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(k.aout()).isFalse();
        assertThat(k.flags()).isEqualTo(3);
        assertThat(k.entry()).as("e_entry, identity-mapped").isEqualTo(b.getInt(24) & 0xffffffffL);
        assertThat(k.segments()).allSatisfy(s -> assertThat(s.paddr()).isGreaterThanOrEqualTo(MultibootKernel.LOAD_MIN));
        assertThat(k.segments()).anySatisfy(s -> assertThat(s.memSize()).as("the bss").isGreaterThan(s.fileSize()));
    }

    @Test
    void shouldLoadAnAoutKludgeKernelByItsHeaderAddresses() throws Exception {
        byte[] file = Files.readAllBytes(MultibootKernels.aout(dir, 3));
        MultibootKernel k = MultibootKernel.parse(file, "mbk.bin");
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(k.aout()).isTrue();
        assertThat(k.segments()).hasSize(1);
        MultibootKernel.Segment s = k.segments().getFirst();
        assertThat(s.paddr()).isEqualTo(0x100000);
        assertThat(s.fileOffset()).isZero();
        assertThat(s.paddr() + s.fileSize()).as("load_end_addr").isEqualTo(b.getInt(20) & 0xffffffffL);
        assertThat(s.end()).as("bss_end_addr").isEqualTo(b.getInt(24) & 0xffffffffL);
        assertThat(k.entry()).as("entry_addr").isEqualTo(b.getInt(28) & 0xffffffffL);
    }

    /** A flat a.out-kludge kernel of 64 KiB at 1 MiB: header at offset 0x100, entry right after it. */
    static byte[] aoutKernel(Consumer<ByteBuffer> change) {
        ByteBuffer b = ByteBuffer.allocate(0x10000).order(ByteOrder.LITTLE_ENDIAN);
        int h = 0x100;
        b.putInt(h, MultibootKernel.MAGIC);
        b.putInt(h + 4, 0x10003);
        b.putInt(h + 12, 0x100100);          // header_addr
        b.putInt(h + 16, 0x100000);          // load_addr
        b.putInt(h + 20, 0x110000);          // load_end_addr: the whole file
        b.putInt(h + 24, 0x120000);          // bss_end_addr
        b.putInt(h + 28, 0x100200);          // entry_addr
        change.accept(b);
        b.putInt(h + 8, -(MultibootKernel.MAGIC + b.getInt(h + 4))); // the checksum the fields need
        return b.array();
    }

    static Stream<Arguments> badHeaders() {
        int h = 0x100;
        return Stream.of(
                Arguments.of("bad checksum", (Consumer<ByteBuffer>) b -> {}, "field checksum", true),
                Arguments.of("video mode", (Consumer<ByteBuffer>) b -> b.putInt(h + 4, 0x10007), "field flags sets bit 2", false),
                Arguments.of("unknown requirement", (Consumer<ByteBuffer>) b -> b.putInt(h + 4, 0x10023), "requires bit 5", false),
                Arguments.of("load above header", (Consumer<ByteBuffer>) b -> b.putInt(h + 16, 0x100200), "field load_addr 0x100200 is above header_addr", false),
                Arguments.of("load before file", (Consumer<ByteBuffer>) b -> b.putInt(h + 16, 0xf0000), "field header_addr", false),
                Arguments.of("load end beyond file", (Consumer<ByteBuffer>) b -> b.putInt(h + 20, 0x180000), "field load_end_addr 0x180000", false),
                Arguments.of("bss below load end", (Consumer<ByteBuffer>) b -> b.putInt(h + 24, 0x108000), "field bss_end_addr 0x108000", false),
                Arguments.of("entry outside", (Consumer<ByteBuffer>) b -> b.putInt(h + 28, 0x200000), "field entry_addr 0x200000", false),
                Arguments.of("low load", (Consumer<ByteBuffer>) b -> {
                    b.putInt(h + 12, 0x8100);
                    b.putInt(h + 16, 0x8000);
                    b.putInt(h + 20, 0x18000);
                    b.putInt(h + 24, 0);
                    b.putInt(h + 28, 0x8200);
                }, "field load_addr 0x8000 is below 64 KiB", false),
                Arguments.of("not ELF without the kludge", (Consumer<ByteBuffer>) b -> b.putInt(h + 4, 3), "must be an ELF file", false));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badHeaders")
    void shouldRefuseABadHeaderNamingTheField(String what, Consumer<ByteBuffer> change, String message, boolean breakChecksum) {
        byte[] file = aoutKernel(change);
        if (breakChecksum) {
            file[0x108] ^= 1;
        }
        assertThatThrownBy(() -> MultibootKernel.parse(file, "k.bin")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("Multiboot kernel k.bin ").hasMessageContaining(message);
    }

    @Test
    void shouldAcceptTheWellFormedHandMadeKernel() {
        MultibootKernel k = MultibootKernel.parse(aoutKernel(b -> {}), "k.bin");
        assertThat(k.segments()).containsExactly(new MultibootKernel.Segment(0x100000, 0, 0x10000, 0x20000));
        assertThat(k.entry()).isEqualTo(0x100200);
    }

    @Test
    void shouldSayWhenThereIsNoHeader() {
        assertThatThrownBy(() -> MultibootKernel.parse(new byte[16384], "zero.bin")).hasMessageContaining("has no Multiboot header");
        assertThat(MultibootKernel.hasMagic(new byte[16384])).isFalse();
        assertThat(MultibootKernel.hasMagic(aoutKernel(b -> {}))).isTrue();
    }
}
