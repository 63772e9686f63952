package io.d3vm.cli;

import io.d3vm.kvm.KvmTestSupport;
import io.d3vm.memory.MemoryImage;
import io.d3vm.vmm.boot.testguest.TestGuestElf;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.ByteArrayOutputStream;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

class RunCommandTest {
    final io.d3vm.testing.RunInProcess d3vm = new io.d3vm.testing.RunInProcess();
    final ByteArrayOutputStream console = d3vm.console;
    final StringWriter err = d3vm.err;

    int run(String... args) {
        return d3vm.run(args);
    }

    /** A guest that prints its boot line and powers off through the contract's ACPI port. */
    static byte[] printingGuest() {
        String line = "d3guest: boot workload=hand mem=32\n";
        ByteArrayOutputStream code = new ByteArrayOutputStream();
        code.writeBytes(new byte[] {0x66, (byte) 0xba, (byte) 0xf8, 0x03}); // mov dx, 0x3f8
        for (char c : line.toCharArray()) {
            code.writeBytes(new byte[] {(byte) 0xb0, (byte) c, (byte) 0xee}); // mov al, c; out dx, al
        }
        code.writeBytes(new byte[] {0x66, (byte) 0xba, 0x04, 0x06, 0x66, (byte) 0xb8, 0x00, 0x20, 0x66, (byte) 0xef}); // outw 0x604, 0x2000
        code.writeBytes(new byte[] {(byte) 0xeb, (byte) 0xfe});
        return TestGuestElf.build(code.toByteArray(), 0x1000);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "--guest=test:idle,mem=16M | too little",
            "--guest=test:bogus | unknown test-guest workload",
            "--guest=linux | is not a test guest",
            "--guest=test:idle,mem=lots | is not a size",
            "--vcpus=0 | --vcpus must be",
            "--guest=test:image | needs --image",
            "--dump-after=1s | give the file too",
            "--guest=test:idle,vcpus=2 | with --vcpus N, not vcpus= in --guest",
            "--dump-memory=/nonexistent-dir/x.elf | directory /nonexistent-dir does not exist",
            "--dump-after=soon | is not a duration",
    })
    void shouldRejectBadArgumentsWithExitCode2AndTheReason(String arg, String expected) {
        assertThat(run(arg)).isEqualTo(2);
        assertThat(err.toString()).contains(expected);
    }

    @Test
    void shouldAskForAGuestWhenNoneIsGiven() {
        assertThat(run()).isEqualTo(2);
        assertThat(err.toString()).contains("--guest test:");
    }

    @Test
    void shouldSayWhatToDoWhenTheKvmDeviceIsMissing(@TempDir Path dir) throws Exception {
        Path elf = dir.resolve("g.elf");
        Files.write(elf, printingGuest());
        assertThat(run("--guest=test:idle,mem=32M", "--guest-binary=" + elf, "--kvm-device=" + dir.resolve("nokvm"))).isEqualTo(1);
        assertThat(err.toString()).contains("does not exist").contains("modprobe");
    }

    @Test
    void shouldRejectAGuestBinaryThatIsNotATestGuest(@TempDir Path dir) throws Exception {
        Path elf = dir.resolve("g.elf");
        Files.write(elf, new byte[100]);
        assertThat(run("--guest=test:idle,mem=32M", "--guest-binary=" + elf)).isEqualTo(2);
        assertThat(err.toString()).contains("is not an ELF file");
    }

    @Test
    @Tag("kvm")
    void shouldRunAGuestToPowerOffWithExitCodeZeroAndLogTheConsole(@TempDir Path dir) throws Exception {
        KvmTestSupport.kvm();
        Path elf = dir.resolve("g.elf");
        Files.write(elf, printingGuest());
        Path log = dir.resolve("serial.log");
        int code = run("--guest=test:idle,mem=32M", "--guest-binary=" + elf, "--serial-log=" + log, "-v");
        assertThat(code).as(err.toString()).isZero();
        assertThat(console.toString(StandardCharsets.US_ASCII)).isEqualTo("d3guest: boot workload=hand mem=32\n");
        assertThat(Files.readString(log)).isEqualTo("d3guest: boot workload=hand mem=32\n");
        assertThat(err.toString()).contains("powered off").contains("VM create -> boot line");
    }

    @ParameterizedTest(name = "control API {0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    @Tag("kvm")
    void shouldDumpTheRunningGuestsMemoryAndLetItRunOn(boolean withApi, @TempDir Path dir) throws Exception {
        KvmTestSupport.kvm();
        Path core = dir.resolve("guest.elf");
        // The dirty workload fills a 16 MiB working set at once; the dump at 1.5 s catches it, and
        // run-seconds=3 shows the guest ran on after the pause. With the API the dump goes through
        // its dump-guest-memory (the path that refuses during a migration), without it straight.
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of(
                "--guest=test:dirty,mem=64M,wss=16,rate=2000,run-seconds=3", "--dump-memory=" + core, "--dump-after=1500ms"));
        if (withApi) {
            args.add("--api-socket=" + dir.resolve("api.sock"));
        }
        int code = run(args.toArray(String[]::new));
        assertThat(code).as(err.toString()).isZero();
        assertThat(err.toString()).contains("wrote the guest's memory to " + core).contains("runs on");
        assertThat(console.toString(StandardCharsets.US_ASCII)).contains("poweroff reason=run-seconds");
        try (MemoryImage img = MemoryImage.open(core)) {
            assertThat(img.format()).isEqualTo(MemoryImage.Format.ELF);
            assertThat(img.memory().totalBytes()).isEqualTo(64L << 20);
            long nonZero = 0;
            for (long p = 0; p < img.memory().pageCount(); p++) {
                if (img.memory().page(p).asByteBuffer().mismatch(java.nio.ByteBuffer.allocate(4096)) >= 0) {
                    nonZero++;
                }
            }
            assertThat(nonZero).as("the working set and the guest's own pages").isGreaterThan(2000);
        }
    }

    @Test
    @Tag("kvm")
    void shouldDumpTheMemoryWhenTheGuestEndsWithoutDumpAfter(@TempDir Path dir) throws Exception {
        KvmTestSupport.kvm();
        Path elf = dir.resolve("g.elf");
        Files.write(elf, printingGuest());
        Path core = dir.resolve("end.elf");
        assertThat(run("--guest=test:idle,mem=32M", "--guest-binary=" + elf, "--dump-memory=" + core)).as(err.toString()).isZero();
        assertThat(err.toString()).contains("when the guest ended");
        try (MemoryImage img = MemoryImage.open(core)) {
            assertThat(img.memory().totalBytes()).isEqualTo(32L << 20);
        }
    }
}
