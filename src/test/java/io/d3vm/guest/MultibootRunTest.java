package io.d3vm.guest;

import io.d3vm.kvm.KvmTestSupport;
import io.d3vm.testing.MultibootKernels;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.ByteArrayOutputStream;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Kernels d3vm did not write for itself, booted by {@code d3vm run --kernel} through the Multiboot
 * loader — and, where QEMU is installed, by {@code qemu-system-x86_64 -kernel} with the same
 * arguments: both consoles must read the same. And the test guest reaching its workload through
 * either entry: the 64-bit fast path and the Multiboot trampoline QEMU uses.
 */
@Tag("kvm")
class MultibootRunTest {
    @TempDir
    Path dir;

    final io.d3vm.testing.RunInProcess d3vm = new io.d3vm.testing.RunInProcess();
    final ByteArrayOutputStream console = d3vm.console;
    final StringWriter err = d3vm.err;

    int run(String... args) {
        return d3vm.run(args);
    }

    List<String> consoleLines(String prefix) {
        return Arrays.stream(console.toString(StandardCharsets.ISO_8859_1).split("\n")).filter(l -> l.startsWith(prefix)).toList();
    }

    @ParameterizedTest(name = "{0} flags={1}")
    @CsvSource({"elf, 3", "elf, 1", "aout, 3"})
    void shouldBootAMultibootKernelAsQemuDoes(String format, int flags) throws Exception {
        KvmTestSupport.kvm();
        Path kernel = format.equals("elf") ? MultibootKernels.elf(dir, flags) : MultibootKernels.aout(dir, flags);
        Path m1 = dir.resolve("m1.txt");
        Files.writeString(m1, "first line of module one\nsecond\n");
        Path m2 = dir.resolve("m2.txt");
        Files.writeString(m2, "module two");
        assertThat(run("--kernel=" + kernel, "--cmdline=hello from the loader", "--mem=64M", "--module=" + m1 + ",alpha beta",
                "--module=" + m2)).as(err.toString()).isZero();
        List<String> d3vm = consoleLines("mbk: ");
        assertThat(d3vm).containsExactly(
                "mbk: flags=0000024d",
                "mbk: mem_upper=0000fc00",
                "mbk: cmdline=" + kernel + " hello from the loader",
                "mbk: module " + m1 + " alpha beta holds: first line of module one page-offset=00000000",
                "mbk: module " + m2 + " holds: module two page-offset=00000000",
                "mbk: ram-above-1M-kib=0000fc00",
                "mbk: bss zero, done");
        assertThat(err.toString()).contains("guest powered off");

        if (QemuGuest.unavailableReason().isPresent()) {
            System.out.println("not compared with QEMU: " + QemuGuest.unavailableReason().get());
            return;
        }
        try (QemuGuest q = QemuGuest.start(kernel, 64, "hello from the loader", List.of("-initrd", m1 + " alpha beta," + m2), "mbk: ")) {
            int code = q.awaitExit(Duration.ofSeconds(60));
            assertThat(code).as("QEMU exits through isa-debug-exit (status 1); it printed:\n" + q.output()).isEqualTo(1);
            assertThat(q.lines()).as("QEMU's console").containsExactlyElementsOf(d3vm);
        }
    }

    @Test
    void shouldRefuseABadHeaderWithExitTwoNamingTheFieldBeforeOpeningKvm() throws Exception {
        ByteBuffer b = ByteBuffer.allocate(0x10000).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0x100, 0x1BADB002);
        b.putInt(0x104, 0x10003);
        b.putInt(0x108, 0x12345678); // not magic + flags + checksum = 0
        Path kernel = dir.resolve("bad.bin");
        Files.write(kernel, b.array());
        // A missing KVM device would be exit 1: exit 2 shows the header was judged first.
        assertThat(run("--kernel=" + kernel, "--kvm-device=" + dir.resolve("no-kvm"))).isEqualTo(2);
        assertThat(err.toString()).contains("Multiboot kernel bad.bin Multiboot header field checksum 0x12345678");
        assertThat(run("--kernel=" + kernel, "--initrd=" + kernel)).isEqualTo(2);
        assertThat(err.toString()).contains("--initrd is for Linux").contains("--module FILE[,ARGS]");
    }

    @Test
    void shouldReachTheTestGuestsWorkloadThroughEitherEntry() throws Exception {
        KvmTestSupport.kvm();
        Path elf = dir.resolve("d3guest.elf");
        Files.write(elf, BuiltGuestBinaryTest.guestElf());
        assertThat(run("--kernel=" + elf, "--cmdline=idle run-seconds=1 tick-ms=100", "--mem=64M")).as(err.toString()).isZero();
        List<String> viaMultiboot = new ArrayList<>(consoleLines("d3guest: "));
        console.reset();
        assertThat(run("--guest=test:idle,mem=64M,run-seconds=1,tick-ms=100", "--guest-binary=" + elf)).as(err.toString()).isZero();
        List<String> viaEntry64 = consoleLines("d3guest: ");
        assertThat(viaMultiboot.getFirst()).contains("workload=idle").contains("loader=multiboot");
        assertThat(viaEntry64.getFirst()).contains("workload=idle").contains("loader=d3vm");
        for (List<String> lines : List.of(viaMultiboot, viaEntry64)) {
            assertThat(lines).contains("d3guest: tick=9 ms=900 workload=idle", "d3guest: poweroff reason=run-seconds ms=1000");
        }
    }
}
