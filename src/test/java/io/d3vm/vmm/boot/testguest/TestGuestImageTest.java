package io.d3vm.vmm.boot.testguest;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertThrows;

class TestGuestImageTest {
    static final byte[] CODE = {(byte) 0xf4};

    @Test
    void shouldFindTheLoadSegmentAndEntry64() throws IOException {
        TestGuestImage img = TestGuestImage.parse(TestGuestElf.build(CODE, 0x2000), "t");
        assertThat(img.entry64()).isEqualTo(TestGuestElf.ENTRY64);
        assertThat(img.segments()).singleElement().satisfies(s -> {
            assertThat(s.paddr()).isEqualTo(0x100000);
            assertThat(s.memSize() - s.fileSize()).isEqualTo(0x2000);
        });
    }

    static Stream<Arguments> corruptions() {
        return Stream.of(
                Arguments.of("no \\x7fELF magic", (Consumer<ByteBuffer>) b -> b.put(1, (byte) 'X')),
                Arguments.of("not ELF32", (Consumer<ByteBuffer>) b -> b.put(4, (byte) 2)),
                Arguments.of("not little-endian", (Consumer<ByteBuffer>) b -> b.put(5, (byte) 2)),
                Arguments.of("not an executable", (Consumer<ByteBuffer>) b -> b.putShort(16, (short) 3)),
                Arguments.of("not for i386", (Consumer<ByteBuffer>) b -> b.putShort(18, (short) 62)),
                Arguments.of("program headers of 40 bytes", (Consumer<ByteBuffer>) b -> b.putShort(42, (short) 40)),
                Arguments.of("0 program headers", (Consumer<ByteBuffer>) b -> b.putShort(44, (short) 0)),
                Arguments.of("beyond the file", (Consumer<ByteBuffer>) b -> b.putInt(28, 0x7fff_fff0)),
                Arguments.of("reads", (Consumer<ByteBuffer>) b -> b.putInt(TestGuestElf.PHOFF + 4, 0x100)),
                Arguments.of("p_filesz", (Consumer<ByteBuffer>) b -> b.putInt(TestGuestElf.PHOFF + 20, 4)),
                Arguments.of("outside [1 MiB, 16 MiB)", (Consumer<ByteBuffer>) b -> b.putInt(TestGuestElf.PHOFF + 12, 0x8000)),
                Arguments.of("outside [1 MiB, 16 MiB)", (Consumer<ByteBuffer>) b -> b.putInt(TestGuestElf.PHOFF + 20, 0x7fffffff)),
                Arguments.of("no PT_LOAD", (Consumer<ByteBuffer>) b -> b.putInt(TestGuestElf.PHOFF, 4)),
                Arguments.of("no D3VM header", (Consumer<ByteBuffer>) b -> b.putInt(TestGuestElf.D3VM_OFFSET, 0)),
                Arguments.of("version 2", (Consumer<ByteBuffer>) b -> b.putInt(TestGuestElf.D3VM_OFFSET + 4, 2)),
                Arguments.of("reserved field", (Consumer<ByteBuffer>) b -> b.putLong(TestGuestElf.D3VM_OFFSET + 16, 1)),
                Arguments.of("not inside a loaded segment", (Consumer<ByteBuffer>) b -> b.putLong(TestGuestElf.D3VM_OFFSET + 8, 0x200000)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("corruptions")
    void shouldRejectACorruptHeaderNamingWhatIsWrong(String expected, Consumer<ByteBuffer> corrupt) {
        byte[] elf = TestGuestElf.build(CODE, 0x1000);
        corrupt.accept(ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN));
        assertThatThrownBy(() -> TestGuestImage.parse(elf, "t")).isInstanceOf(IOException.class).hasMessageContaining(expected);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 10, 51, 83})
    void shouldRejectATruncatedFile(int length) {
        byte[] elf = Arrays.copyOf(TestGuestElf.build(CODE, 0), length);
        assertThrows(IOException.class, () -> TestGuestImage.parse(elf, "t"));
    }

    @ParameterizedTest
    @ValueSource(longs = {11, 12, 13, 14})
    void shouldNeverFailOtherThanWithAnIoExceptionOnRandomDamage(long seed) {
        Random rnd = new Random(seed);
        for (int round = 0; round < 500; round++) {
            byte[] elf = TestGuestElf.build(CODE, 0x1000);
            for (int k = 0; k < 4; k++) {
                elf[rnd.nextInt(TestGuestElf.CODE_OFFSET)] = (byte) rnd.nextInt(256);
            }
            try {
                TestGuestImage img = TestGuestImage.parse(elf, "t");
                for (TestGuestImage.Segment s : img.segments()) {
                    assertThat(s.fileOffset() + s.fileSize()).isLessThanOrEqualTo(elf.length);
                    assertThat(s.paddr()).isGreaterThanOrEqualTo(TestGuestImage.LOAD_MIN);
                    assertThat(s.end()).isLessThanOrEqualTo(TestGuestImage.LOAD_MAX);
                }
            } catch (IOException expected) {
                assertThat(expected.getMessage()).startsWith("test guest t ");
            }
        }
    }
}
