package io.d3vm.vmm.boot.linux;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryLayout;
import io.d3vm.vmm.boot.BootCpuState;
import io.d3vm.vmm.boot.LongMode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The Linux loader's layout, read back from guest memory and checked against the boot protocol
 * (boot.rst, "64-bit boot protocol"): no KVM needed.
 */
class LinuxLoaderTest {
    private static final long MiB = 1L << 20;

    @TempDir
    Path dir;

    @Test
    void shouldEnterAtStartup64WithBootParamsInRsiAndBootSegments() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(128 * MiB))) {
            LinuxBoot boot = LinuxLoader.load(mem, img.write(dir), Optional.empty(), "console=ttyS0");
            BootCpuState cpu = boot.cpu();
            assertThat(boot.kernelAddress()).isEqualTo(0x1000000);
            assertThat(cpu.rip()).isEqualTo(0x1000000 + 0x200);
            assertThat(cpu.rsi()).isEqualTo(boot.bootParamsAddress()).isEqualTo(LinuxLoader.BOOT_PARAMS_ADDR);
            assertThat(cpu.rsp()).isEqualTo(LinuxLoader.BOOT_STACK_POINTER);
            assertThat(cpu.cr3()).isEqualTo(LongMode.PML4_ADDR);
            assertThat(cpu.codeSelector()).isEqualTo(0x10);
            assertThat(cpu.dataSelector()).isEqualTo(0x18);
            // The protected-mode kernel, byte for byte, at its load address.
            byte[] loaded = mem.slice(boot.kernelAddress(), img.payloadBytes).toArray(JAVA_BYTE);
            assertThat(loaded).isEqualTo(img.payload());
        }
    }

    @Test
    void shouldCopyTheSetupHeaderAndWriteTheLoaderFields() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        Path initrd = randomFile("initrd", 300_000, 7);
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(256 * MiB))) {
            String cmdline = "console=ttyS0 d3vm.workload=verify d3vm.seconds=5";
            LinuxBoot boot = LinuxLoader.load(mem, img.write(dir), Optional.of(initrd), cmdline);
            MemorySegment bp = mem.slice(boot.bootParamsAddress(), 4096);

            byte[] file = img.bytes();
            int headerEnd = 0x202 + img.jumpOffset;
            byte[] copied = bp.asSlice(0x1f1, headerEnd - 0x1f1).toArray(JAVA_BYTE);
            byte[] expected = Arrays.copyOfRange(file, 0x1f1, headerEnd);
            // Fields the loader owns differ from the file; everything else is the file's header.
            for (int off : new int[] {SetupHeader.OFF_TYPE_OF_LOADER, SetupHeader.OFF_CMD_LINE_PTR, SetupHeader.OFF_RAMDISK_IMAGE,
                    SetupHeader.OFF_RAMDISK_SIZE, SetupHeader.OFF_SETUP_DATA, SetupHeader.OFF_HARDWARE_SUBARCH}) {
                int len = off == SetupHeader.OFF_TYPE_OF_LOADER ? 1 : off == SetupHeader.OFF_SETUP_DATA ? 8 : 4;
                Arrays.fill(copied, off - 0x1f1, off - 0x1f1 + len, (byte) 0);
                Arrays.fill(expected, off - 0x1f1, off - 0x1f1 + len, (byte) 0);
            }
            assertThat(copied).isEqualTo(expected);
            // Bytes before the header and between the header's end and the e820 table stay zero.
            assertThat(bp.asSlice(0, 0x1e8).toArray(JAVA_BYTE)).containsOnly((byte) 0);
            assertThat(bp.asSlice(headerEnd, 0x2d0 - headerEnd).toArray(JAVA_BYTE)).containsOnly((byte) 0);

            assertThat(bp.get(JAVA_SHORT_UNALIGNED, 0x1fe)).isEqualTo((short) 0xaa55);
            assertThat(bp.get(JAVA_BYTE, 0x210) & 0xff).isEqualTo(0xff);
            assertThat(u32(bp, 0x228) | (u32(bp, 0x0c8) << 32)).isEqualTo(LinuxLoader.CMDLINE_ADDR);
            assertThat(u32(bp, 0x218) | (u32(bp, 0x0c0) << 32)).isEqualTo(boot.initrdAddress());
            assertThat(u32(bp, 0x21c) | (u32(bp, 0x0c4) << 32)).isEqualTo(300_000);
            assertThat(bp.get(JAVA_LONG_UNALIGNED, 0x250)).as("setup_data").isZero();

            assertThat(readCString(mem, LinuxLoader.CMDLINE_ADDR, (int) img.cmdlineSize + 1)).isEqualTo(cmdline);
            assertThat(mem.slice(boot.initrdAddress(), 300_000).toArray(JAVA_BYTE)).isEqualTo(Files.readAllBytes(initrd));
        }
    }

    @Test
    void shouldDescribeRamAndReservedAreasInE820() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        Path initrd = randomFile("initrd", 1_000_000, 8);
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(512 * MiB))) {
            LinuxBoot boot = LinuxLoader.load(mem, img.write(dir), Optional.of(initrd), "quiet");
            List<E820Entry> e820 = readE820(mem.slice(boot.bootParamsAddress(), 4096));
            assertThat(e820).isEqualTo(boot.e820());
            assertThat(e820).containsExactly(
                    new E820Entry(0, 0x10000, E820Entry.RESERVED),
                    new E820Entry(0x10000, 0x9fc00 - 0x10000, E820Entry.RAM),
                    new E820Entry(0x9fc00, 0x100000 - 0x9fc00, E820Entry.RESERVED),
                    new E820Entry(0x100000, 512 * MiB - 0x100000, E820Entry.RAM));
            assertWellFormed(e820, mem.layout());
            // The kernel's whole init_size area, the initramfs and the command line are RAM.
            assertThat(typeAt(e820, boot.kernelAddress(), img.initSize)).isEqualTo(E820Entry.RAM);
            assertThat(typeAt(e820, boot.initrdAddress(), boot.initrdBytes())).isEqualTo(E820Entry.RAM);
            assertThat(typeAt(e820, boot.cmdlineAddress(), 64)).isEqualTo(E820Entry.RAM);
            // What the kernel reads before it has copies of its own is kept away from the allocator.
            assertThat(typeAt(e820, boot.bootParamsAddress(), 4096)).isEqualTo(E820Entry.RESERVED);
            assertThat(typeAt(e820, LongMode.GDT_ADDR, 48)).isEqualTo(E820Entry.RESERVED);
            assertThat(typeAt(e820, LongMode.PML4_ADDR, 0xF000 - LongMode.PML4_ADDR)).isEqualTo(E820Entry.RESERVED);
        }
    }

    @Test
    void shouldListOnlyBackedMemoryAboveOneMebibyteWhenTheLayoutHasAHole() throws IOException {
        MemoryLayout layout = MemoryLayout.of(0, 3072 * MiB, 4096 * MiB, 1024 * MiB);
        Path initrd = randomFile("initrd", 2 * MiB + 123, 9);
        try (GuestMemory mem = GuestMemory.allocate(layout)) {
            LinuxBoot boot = LinuxLoader.load(mem, new SyntheticBzImage().write(dir), Optional.of(initrd), "");
            List<E820Entry> e820 = readE820(mem.slice(boot.bootParamsAddress(), 4096));
            assertWellFormed(e820, layout);
            assertThat(e820.get(3)).isEqualTo(new E820Entry(0x100000, 3072 * MiB - 0x100000, E820Entry.RAM));
            assertThat(e820.get(4)).isEqualTo(new E820Entry(4096 * MiB, 1024 * MiB, E820Entry.RAM));
            // Highest page-aligned slot under initrd_addr_max (2 GiB - 1) in RAM.
            assertThat(boot.initrdAddress() + boot.initrdBytes()).isLessThanOrEqualTo(0x80000000L);
            assertThat(boot.initrdAddress()).isEqualTo((0x80000000L - boot.initrdBytes()) & ~0xfffL);
        }
    }

    @Test
    void shouldReportAdjacentLayoutRangesAsOneRamEntry() throws IOException {
        MemoryLayout layout = MemoryLayout.of(0, 256 * MiB, 256 * MiB, 256 * MiB);
        try (GuestMemory mem = GuestMemory.allocate(layout)) {
            LinuxBoot boot = LinuxLoader.load(mem, new SyntheticBzImage().write(dir), Optional.empty(), "");
            assertThat(readE820(mem.slice(boot.bootParamsAddress(), 4096)))
                    .endsWith(new E820Entry(0x100000, 512 * MiB - 0x100000, E820Entry.RAM)).hasSize(4);
        }
    }

    /** Random memory sizes, initramfs sizes and initrd_addr_max: the initramfs always lands where the protocol allows, as high as it can. */
    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void shouldPlaceTheInitramfsAsHighAsAllowedAndPageAligned(long seed) throws IOException {
        Random rnd = new Random(seed);
        SyntheticBzImage img = new SyntheticBzImage();
        img.initSize = (8 + rnd.nextInt(64)) * MiB;
        long memBytes = (img.initSize + 16 * MiB + (8 + rnd.nextInt(600)) * MiB) & ~0xfffL;
        img.initrdAddrMax = rnd.nextBoolean() ? 0x7fffffffL : ((img.initSize + 24 * MiB + rnd.nextInt(256) * MiB) | 0xfffff) - rnd.nextInt(4096);
        long initrdSize = 1 + rnd.nextInt(6 * (int) MiB);
        Path initrd = randomFile("initrd", initrdSize, seed);
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(memBytes))) {
            LinuxBoot boot = LinuxLoader.load(mem, img.write(dir), Optional.of(initrd), "x");
            long start = boot.initrdAddress(), end = start + initrdSize;
            long limit = Math.min(memBytes, img.initrdAddrMax + 1);
            assertThat(start % 4096).isZero();
            assertThat(end).isLessThanOrEqualTo(limit);
            assertThat(start >= boot.kernelAddress() + img.initSize || end <= boot.kernelAddress())
                    .as("initramfs [0x%x, 0x%x) outside the kernel's init_size area", start, end).isTrue();
            // As high as allowed: one page higher would cross the limit.
            assertThat(start + 4096 + initrdSize).isGreaterThan(limit);
            assertThat(mem.slice(start, initrdSize).toArray(JAVA_BYTE)).isEqualTo(Files.readAllBytes(initrd));
        }
    }

    @Test
    void shouldIdentityMapKernelBootParamsCommandLineAndInitramfsWith2MiBPages() throws IOException {
        Path initrd = randomFile("initrd", 5 * MiB, 3);
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(1024 * MiB))) {
            LinuxBoot boot = LinuxLoader.load(mem, new SyntheticBzImage().write(dir), Optional.of(initrd), "root=/dev/ram0");
            long cr3 = boot.cpu().cr3();
            for (long va : new long[] {boot.cpu().rip(), boot.kernelAddress() + 8 * MiB - 1, boot.bootParamsAddress(),
                    boot.cmdlineAddress(), boot.initrdAddress(), boot.initrdAddress() + boot.initrdBytes() - 1,
                    boot.cpu().rsp() - 8, LongMode.GDT_ADDR, 1024 * MiB - 1, (4L << 30) - 1}) {
                assertThat(translate(mem, cr3, va)).as("va 0x%x", va).isEqualTo(va);
            }
        }
    }

    @Test
    void shouldLoadA64BitCodeSegmentAndFlatDataSegmentIntoTheGdt() throws IOException {
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(128 * MiB))) {
            BootCpuState cpu = LinuxLoader.load(mem, new SyntheticBzImage().write(dir), Optional.empty(), "").cpu();
            long code = mem.slice(cpu.gdtBase() + cpu.codeSelector(), 8).get(JAVA_LONG_UNALIGNED, 0);
            long data = mem.slice(cpu.gdtBase() + cpu.dataSelector(), 8).get(JAVA_LONG_UNALIGNED, 0);
            assertThat(cpu.gdtLimit()).isGreaterThanOrEqualTo(cpu.dataSelector() + 7);
            // present, DPL 0, code segment (S=1, type bit 3), executable+readable, L=1 and D=0 for 64-bit.
            assertThat(bit(code, 47)).isOne();
            assertThat((code >>> 45) & 3).isZero();
            assertThat(bit(code, 44)).isOne();
            assertThat(bit(code, 43)).isOne();
            assertThat(bit(code, 53)).as("L").isOne();
            assertThat(bit(code, 54)).as("D").isZero();
            // present, data segment, writable, 4 GiB limit with granularity.
            assertThat(bit(data, 47)).isOne();
            assertThat(bit(data, 43)).isZero();
            assertThat(bit(data, 41)).as("writable").isOne();
            assertThat(bit(data, 55)).as("G").isOne();
            assertThat((data & 0xffff) | ((data >>> 32) & 0xf0000)).isEqualTo(0xfffff);
        }
    }

    @Test
    void shouldMoveARelocatableKernelUpToItsAlignment() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.prefAddress = 0x1100000;
        img.kernelAlignment = 0x400000;
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(128 * MiB))) {
            LinuxBoot boot = LinuxLoader.load(mem, img.write(dir), Optional.empty(), "");
            assertThat(boot.kernelAddress()).isEqualTo(0x1400000);
            assertThat(boot.cpu().rip()).isEqualTo(0x1400200);
        }
    }

    @Test
    void shouldRejectANonRelocatableKernelOffItsAlignment() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.relocatable = false;
        img.prefAddress = 0x1100000;
        assertLoadFails(img.write(dir), 128 * MiB, "not relocatable", "kernel_alignment");
    }

    @Test
    void shouldNameAMissingKernelAndSayWhereToGetOne() {
        assertLoadFails(dir.resolve("no-such-vmlinuz"), 128 * MiB, "does not exist", "fetch-linux.sh");
    }

    @Test
    void shouldNameAMissingInitramfs() throws IOException {
        Path kernel = new SyntheticBzImage().write(dir);
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(128 * MiB))) {
            assertThatThrownBy(() -> LinuxLoader.load(mem, kernel, Optional.of(dir.resolve("nope.cpio.gz")), ""))
                    .isInstanceOf(LinuxBootException.class).hasMessageContaining("initramfs").hasMessageContaining("does not exist");
        }
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3})
    void shouldRejectRandomBytesAsNotABzImage(long seed) throws IOException {
        Path f = randomFile("random", 4 * MiB, seed);
        assertLoadFails(f, 128 * MiB, "not a bzImage", "HdrS");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 0x1f1, 0x200, 0x263})
    void shouldRejectAFileTooShortForTheSetupHeader(int size) throws IOException {
        Path f = dir.resolve("short");
        Files.write(f, Arrays.copyOf(new SyntheticBzImage().bytes(), size));
        assertLoadFails(f, 128 * MiB, "not a bzImage", "too short");
    }

    @Test
    void shouldRejectAPayloadShorterThanSyssize() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.syssizeOverride = img.payloadBytes / 16 + 100;
        assertLoadFails(img.write(dir), 128 * MiB, "truncated", "syssize");
    }

    @Test
    void shouldRejectAFileThatEndsInsideTheSetupPart() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.setupSects = 30;
        Path f = dir.resolve("cut");
        Files.write(f, Arrays.copyOf(img.bytes(), 4096));
        assertLoadFails(f, 128 * MiB, "truncated", "setup_sects 30");
    }

    @ParameterizedTest
    @ValueSource(ints = {0x0200, 0x0206, 0x020a, 0x020b})
    void shouldRejectABootProtocolOlderThan2_12(int version) throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.version = version;
        assertLoadFails(img.write(dir), 128 * MiB, "boot protocol " + (version >> 8) + "." + (version & 0xff), "2.12");
    }

    @Test
    void shouldRejectAKernelWithout64BitEntry() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.xloadFlags = 0;
        assertLoadFails(img.write(dir), 128 * MiB, "no 64-bit entry point");
    }

    @Test
    void shouldRejectAZImage() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.loadFlags = 0;
        assertLoadFails(img.write(dir), 128 * MiB, "zImage");
    }

    @Test
    void shouldRejectMemoryTooSmallForInitSizeAndSayHowMuchIsNeeded() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.initSize = 0x3f98000; // Debian 6.1's
        assertLoadFails(img.write(dir), 64 * MiB, "too small", "at least 80 MiB", "--mem");
    }

    @Test
    void shouldRejectAnInitramfsThatDoesNotFit() throws IOException {
        Path kernel = new SyntheticBzImage().write(dir);
        Path big = dir.resolve("big.cpio.gz");
        try (RandomAccessFile f = new RandomAccessFile(big.toFile(), "rw")) {
            f.setLength(120 * MiB); // sparse: costs no disk
        }
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(128 * MiB))) {
            assertThatThrownBy(() -> LinuxLoader.load(mem, kernel, Optional.of(big), ""))
                    .isInstanceOf(LinuxBootException.class)
                    .hasMessageContaining("initramfs").hasMessageContaining("does not fit").hasMessageContaining("--mem");
        }
    }

    @Test
    void shouldRejectACommandLineLongerThanTheKernelAccepts() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.cmdlineSize = 100;
        Path kernel = img.write(dir);
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(128 * MiB))) {
            assertThatThrownBy(() -> LinuxLoader.load(mem, kernel, Optional.empty(), "x".repeat(101)))
                    .isInstanceOf(LinuxBootException.class).hasMessageContaining("101 bytes").hasMessageContaining("cmdline_size");
            assertThatThrownBy(() -> LinuxLoader.load(mem, kernel, Optional.empty(), "console=ttyS0\n"))
                    .isInstanceOf(LinuxBootException.class).hasMessageContaining("printable ASCII");
            assertThat(LinuxLoader.load(mem, kernel, Optional.empty(), "x".repeat(100)).cmdline()).hasSize(100);
        }
    }

    @Test
    void shouldRejectMemoryThatDoesNotStartAtZero() throws IOException {
        Path kernel = new SyntheticBzImage().write(dir);
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.of(1 * MiB, 127 * MiB))) {
            assertThatThrownBy(() -> LinuxLoader.load(mem, kernel, Optional.empty(), ""))
                    .isInstanceOf(LinuxBootException.class).hasMessageContaining("from address 0");
        }
    }

    @Test
    void shouldCheckEverythingWithoutGuestMemory() throws IOException {
        SyntheticBzImage img = new SyntheticBzImage();
        img.initSize = 0x3f98000;
        Path kernel = img.write(dir);
        assertThatThrownBy(() -> LinuxLoader.check(MemoryLayout.flat(64 * MiB), kernel, Optional.empty(), "", 1))
                .isInstanceOf(LinuxBootException.class).hasMessageContaining("at least 80 MiB");
        assertThatThrownBy(() -> LinuxLoader.check(MemoryLayout.flat(128 * MiB), kernel, Optional.empty(), "", 0))
                .isInstanceOf(LinuxBootException.class).hasMessageContaining("vCPUs");
        Path initrd = randomFile("initrd", 10_000, 1);
        assertThat(LinuxLoader.check(MemoryLayout.flat(128 * MiB), kernel, Optional.of(initrd), "quiet", 2))
                .contains("bzImage").contains("2.15").contains("0x1000000").contains("0x1000200").contains("initramfs 9 KiB");
    }

    /** The real Debian kernel (fetched by scripts/fetch-linux.sh when missing). */
    @Test
    void shouldLoadTheDebianKernel() throws IOException, InterruptedException {
        Path vmlinuz = DebianLinux.require("vmlinuz");
        Optional<Path> initrd = Optional.of(DebianLinux.require("initramfs.cpio.gz"));
        byte[] file = Files.readAllBytes(vmlinuz);
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(512 * MiB))) {
            LinuxBoot boot = LinuxLoader.load(mem, vmlinuz, initrd, "console=ttyS0 d3vm.workload=idle");
            SetupHeader h = boot.header();
            System.out.println(boot.summary());
            assertThat(h.version()).isGreaterThanOrEqualTo(0x020c);
            assertThat(h.xloadFlags() & SetupHeader.XLF_KERNEL_64).isNotZero();
            assertThat(h.relocatable()).isTrue();
            assertThat(boot.kernelAddress() % h.kernelAlignment()).isZero();
            assertThat(boot.cpu().rip()).isEqualTo(boot.kernelAddress() + 0x200);
            assertThat(mem.slice(boot.kernelAddress(), file.length - h.setupBytes()).toArray(JAVA_BYTE))
                    .isEqualTo(Arrays.copyOfRange(file, h.setupBytes(), file.length));
            MemorySegment bp = mem.slice(boot.bootParamsAddress(), 4096);
            assertThat(bp.asSlice(0x202, 4).toArray(JAVA_BYTE)).isEqualTo("HdrS".getBytes());
            assertThat(bp.get(JAVA_LONG_UNALIGNED, 0x258)).isEqualTo(h.prefAddress());
            assertThat(u32(bp, 0x260)).isEqualTo(h.initSize());
            assertWellFormed(readE820(bp), mem.layout());
            assertThat(boot.initrdAddress() + boot.initrdBytes() - 1).isLessThanOrEqualTo(h.initrdAddrMax());
            assertThat(boot.initrdAddress()).isGreaterThanOrEqualTo(boot.kernelAddress() + h.initSize());
        }
    }

    // --- helpers: read what the loader wrote, the way the kernel will ---

    private void assertLoadFails(Path kernel, long memBytes, String... fragments) {
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(memBytes))) {
            var thrown = assertThatThrownBy(() -> LinuxLoader.load(mem, kernel, Optional.empty(), "console=ttyS0"))
                    .isInstanceOf(LinuxBootException.class);
            for (String f : fragments) {
                thrown.hasMessageContaining(f);
            }
        }
    }

    private Path randomFile(String name, long size, long seed) throws IOException {
        byte[] b = new byte[(int) size];
        new Random(seed).nextBytes(b);
        Path f = dir.resolve(name + "-" + seed);
        Files.write(f, b);
        return f;
    }

    private static long u32(MemorySegment s, long off) {
        return Integer.toUnsignedLong(s.get(JAVA_INT_UNALIGNED, off));
    }

    private static long bit(long v, int n) {
        return (v >>> n) & 1;
    }

    private static String readCString(GuestMemory mem, long gpa, int max) {
        byte[] b = mem.slice(gpa, max).toArray(JAVA_BYTE);
        int n = 0;
        while (n < b.length && b[n] != 0) {
            n++;
        }
        assertThat(n).as("NUL terminator within %d bytes", max).isLessThan(max);
        return new String(b, 0, n, java.nio.charset.StandardCharsets.US_ASCII);
    }

    static List<E820Entry> readE820(MemorySegment bootParams) {
        int n = bootParams.get(JAVA_BYTE, BootParams.OFF_E820_ENTRIES) & 0xff;
        List<E820Entry> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long off = BootParams.OFF_E820_TABLE + 20L * i;
            out.add(new E820Entry(bootParams.get(JAVA_LONG_UNALIGNED, off), bootParams.get(JAVA_LONG_UNALIGNED, off + 8),
                    bootParams.get(JAVA_INT_UNALIGNED, off + 16)));
        }
        return out;
    }

    /** Sorted, non-overlapping, and every RAM byte is backed by the layout. */
    private static void assertWellFormed(List<E820Entry> e820, MemoryLayout layout) {
        for (int i = 1; i < e820.size(); i++) {
            assertThat(e820.get(i).addr()).isGreaterThanOrEqualTo(e820.get(i - 1).end());
        }
        long ram = 0;
        for (E820Entry e : e820) {
            if (e.type() == E820Entry.RAM) {
                ram += e.size();
                assertThat(layout.ranges()).anyMatch(r -> r.guestPhysAddr() <= e.addr() && e.end() <= r.end());
            }
        }
        assertThat(ram).isEqualTo(layout.totalBytes() - 0x10000 - (0x100000 - 0x9fc00));
    }

    /** The type of the one entry holding all of [addr, addr + len), or -1. */
    private static int typeAt(List<E820Entry> e820, long addr, long len) {
        for (E820Entry e : e820) {
            if (e.addr() <= addr && addr + len <= e.end()) {
                return e.type();
            }
        }
        return -1;
    }

    /** Walks 4-level page tables as the CPU does (2 MiB leaves); fails on a non-present or read-only entry. */
    private static long translate(GuestMemory mem, long cr3, long va) {
        long table = cr3 & ~0xfffL;
        int[] shifts = {39, 30, 21};
        for (int level = 0; level < 3; level++) {
            long e = mem.slice(table + ((va >>> shifts[level]) & 511) * 8, 8).get(JAVA_LONG_UNALIGNED, 0);
            assertThat(e & 1).as("present at level %d for va 0x%x", level, va).isOne();
            assertThat(e & 2).as("writable at level %d", level).isEqualTo(2);
            long addr = e & 0x000f_ffff_ffff_f000L;
            if (level == 2) {
                assertThat(e & 0x80).as("2 MiB page").isEqualTo(0x80);
                return (addr & ~0x1fffffL) | (va & 0x1fffffL);
            }
            assertThat(e & 0x80).as("no large page above the PD").isZero();
            table = addr;
        }
        throw new AssertionError();
    }
}
