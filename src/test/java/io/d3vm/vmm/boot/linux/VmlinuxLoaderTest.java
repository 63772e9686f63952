package io.d3vm.vmm.boot.linux;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Loading the uncompressed ELF vmlinux: segments, bss, entry, and the header the loader writes for it. */
class VmlinuxLoaderTest {
    private static final long MiB = 1L << 20;

    @TempDir
    Path dir;

    @Test
    void shouldPlaceSegmentsAtTheirPhysicalAddressesZeroBssAndEnterAtEEntry() throws IOException {
        SyntheticVmlinux elf = new SyntheticVmlinux();
        elf.entry = 0x1000040;
        Path initrd = dir.resolve("initrd");
        Files.write(initrd, new byte[123_456]);
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(128 * MiB))) {
            mem.slice(0x1000000, 4 * MiB).fill((byte) 0x5a); // an earlier boot's bytes
            LinuxBoot boot = LinuxLoader.load(mem, elf.write(dir), Optional.of(initrd), "console=ttyS0");
            assertThat(mem.slice(0x1000000, 40_000).toArray(JAVA_BYTE)).isEqualTo(elf.segmentBytes(0));
            assertThat(mem.slice(0x1200000, 10_000).toArray(JAVA_BYTE)).isEqualTo(elf.segmentBytes(1));
            assertThat(mem.slice(0x1200000 + 10_000, 290_000).toArray(JAVA_BYTE)).as("bss").containsOnly((byte) 0);
            assertThat(mem.slice(0x1000000 + 40_000, 1000).toArray(JAVA_BYTE)).as("gap between segments untouched")
                    .containsOnly((byte) 0x5a);

            assertThat(boot.cpu().rip()).isEqualTo(0x1000040);
            assertThat(boot.cpu().rsi()).isEqualTo(LinuxLoader.BOOT_PARAMS_ADDR);
            assertThat(boot.kernelAddress()).isEqualTo(0x1000000);
            long span = 0x1200000 + 300_000 - 0x1000000;
            assertThat(boot.header().initSize()).isEqualTo(span);

            MemorySegment bp = mem.slice(LinuxLoader.BOOT_PARAMS_ADDR, 4096);
            assertThat(bp.get(JAVA_SHORT_UNALIGNED, 0x1fe)).isEqualTo((short) 0xaa55);
            assertThat(new String(bp.asSlice(0x202, 4).toArray(JAVA_BYTE))).isEqualTo("HdrS");
            assertThat(bp.get(JAVA_SHORT_UNALIGNED, 0x206)).isEqualTo((short) 0x020f);
            assertThat(bp.get(JAVA_BYTE, 0x210) & 0xff).isEqualTo(0xff);
            assertThat(bp.get(JAVA_BYTE, 0x211) & 1).as("LOADED_HIGH").isOne();
            assertThat(bp.get(JAVA_SHORT_UNALIGNED, 0x236) & 1).as("XLF_KERNEL_64").isOne();
            assertThat(bp.get(JAVA_LONG_UNALIGNED, 0x258)).as("pref_address").isEqualTo(0x1000000);
            assertThat(Integer.toUnsignedLong(bp.get(JAVA_INT_UNALIGNED, 0x260))).as("init_size").isEqualTo(span);
            assertThat(Integer.toUnsignedLong(bp.get(JAVA_INT_UNALIGNED, 0x228))).isEqualTo(LinuxLoader.CMDLINE_ADDR);
            assertThat(Integer.toUnsignedLong(bp.get(JAVA_INT_UNALIGNED, 0x218))).isEqualTo(boot.initrdAddress());
            assertThat(boot.initrdAddress()).isGreaterThanOrEqualTo(0x1000000 + span);
            assertThat(LinuxLoaderTest.readE820(bp)).isEqualTo(E820Entry.forLayout(mem.layout()));
        }
    }

    @Test
    void shouldRejectA32BitElf() throws IOException {
        SyntheticVmlinux elf = new SyntheticVmlinux();
        elf.elfClass = 1;
        assertLoadFails(elf.write(dir), 128 * MiB, "not 64-bit");
    }

    @Test
    void shouldRejectAnElfForAnotherMachineOrAnObjectFile() throws IOException {
        SyntheticVmlinux elf = new SyntheticVmlinux();
        elf.machine = 183; // aarch64
        assertLoadFails(elf.write(dir), 128 * MiB, "machine 183", "EM_X86_64");
        elf.machine = 62;
        elf.type = 1; // ET_REL
        assertLoadFails(elf.write(dir), 128 * MiB, "type 1");
    }

    @Test
    void shouldRejectATruncatedSegmentOrHeader() throws IOException {
        SyntheticVmlinux elf = new SyntheticVmlinux();
        elf.truncateTo = elf.bytes().length - 1;
        assertLoadFails(elf.write(dir), 128 * MiB, "truncated", "segment 1");
        elf.truncateTo = 40;
        assertLoadFails(elf.write(dir), 128 * MiB, "truncated ELF");
        elf.truncateTo = 100; // header complete, program headers cut
        assertLoadFails(elf.write(dir), 128 * MiB, "bad program headers");
    }

    @Test
    void shouldRejectSegmentsBelowOneMebibyteOrOverlapping() throws IOException {
        SyntheticVmlinux elf = new SyntheticVmlinux();
        elf.segs.set(0, new SyntheticVmlinux.Seg(0x7000, 100, 100));
        elf.entry = 0x7000;
        assertLoadFails(elf.write(dir), 128 * MiB, "unloadable segment 0", "1 MiB");
        elf = new SyntheticVmlinux();
        elf.segs.set(1, new SyntheticVmlinux.Seg(0x1000000 + 20_000, 100, 100));
        assertLoadFails(elf.write(dir), 128 * MiB, "overlapping");
    }

    @Test
    void shouldRejectAnEntryOutsideTheLoadedCode() throws IOException {
        SyntheticVmlinux elf = new SyntheticVmlinux();
        elf.entry = 0xffffffff81000000L; // a virtual address: not what the 64-bit boot protocol enters
        assertLoadFails(elf.write(dir), 128 * MiB, "entry point 0xffffffff81000000");
    }

    @Test
    void shouldRejectAUserSpaceExecutable() throws IOException {
        SyntheticVmlinux elf = new SyntheticVmlinux();
        elf.vaddrOffset = 0;
        assertLoadFails(elf.write(dir), 128 * MiB, "not a Linux kernel", "0x1000000");
        Path busybox = Path.of(System.getProperty("d3vm.projectDir", "."), "build", "linux", "busybox");
        if (Files.isRegularFile(busybox)) {
            assertLoadFails(busybox, 128 * MiB, "not a Linux kernel");
        }
    }

    @Test
    void shouldRejectMemoryTooSmallForTheImage() throws IOException {
        SyntheticVmlinux elf = new SyntheticVmlinux();
        elf.segs.add(new SyntheticVmlinux.Seg(0x4000000, 100, 100));
        assertLoadFails(elf.write(dir), 32 * MiB, "too small", "--mem");
    }

    @Test
    void shouldLoadTheDebianVmlinux() throws IOException, InterruptedException {
        Path vmlinux = DebianLinux.require("vmlinux");
        byte[] file = Files.readAllBytes(vmlinux);
        ByteBuffer h = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(256 * MiB))) {
            LinuxBoot boot = LinuxLoader.load(mem, vmlinux, Optional.empty(), "console=ttyS0");
            System.out.println(boot.summary());
            assertThat(boot.cpu().rip()).isEqualTo(h.getLong(0x18));
            // Every PT_LOAD segment's file bytes sit at its physical address.
            long phoff = h.getLong(0x20);
            int phnum = h.getShort(0x38);
            int loads = 0;
            for (int i = 0; i < phnum; i++) {
                int o = (int) phoff + i * 56;
                if (h.getInt(o) != 1) {
                    continue;
                }
                loads++;
                int off = (int) h.getLong(o + 8), filesz = (int) h.getLong(o + 0x20);
                long paddr = h.getLong(o + 0x18);
                // Sampled, not whole: the segments are tens of MiB.
                Random r = new Random(i);
                for (int k = 0; k < 64; k++) {
                    int at = r.nextInt(Math.max(1, filesz - 4096));
                    int len = Math.min(4096, filesz - at);
                    assertThat(mem.slice(paddr + at, len).toArray(JAVA_BYTE)).isEqualTo(Arrays.copyOfRange(file, off + at, off + at + len));
                }
            }
            assertThat(loads).isPositive();
        }
    }

    private void assertLoadFails(Path kernel, long memBytes, String... fragments) {
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(memBytes))) {
            var thrown = assertThatThrownBy(() -> LinuxLoader.load(mem, kernel, Optional.empty(), ""))
                    .isInstanceOf(LinuxBootException.class);
            for (String f : fragments) {
                thrown.hasMessageContaining(f);
            }
        }
    }
}
