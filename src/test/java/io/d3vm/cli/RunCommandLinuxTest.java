package io.d3vm.cli;

import io.d3vm.kvm.KvmTestSupport;
import io.d3vm.vmm.boot.linux.SyntheticBzImage;
import io.d3vm.vmm.boot.linux.SyntheticVmlinux;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code d3vm run --kernel}: argument errors before KVM, and a stand-in kernel run on KVM through the Linux boot protocol. */
class RunCommandLinuxTest {
    final ByteArrayOutputStream console = new ByteArrayOutputStream();
    final StringWriter err = new StringWriter();

    @TempDir
    Path dir;

    int run(String... args) {
        CommandLine cl = new CommandLine(new RunCommand(null, console));
        cl.setErr(new PrintWriter(err, true));
        cl.setOut(new PrintWriter(new StringWriter(), true));
        return cl.execute(args);
    }

    /**
     * 64-bit code for the kernel's entry point that does what only a correct boot lets it do:
     * follows RSI to boot_params, reads cmd_line_ptr (0x228), prints the command line on COM1,
     * then powers off through the ACPI PM1a port.
     */
    static byte[] echoCmdlineCode() {
        return new byte[] {
                (byte) 0x8b, (byte) 0x86, 0x28, 0x02, 0x00, 0x00, // mov eax, [rsi + 0x228]
                0x48, (byte) 0x89, (byte) 0xc3,                   // mov rbx, rax
                0x66, (byte) 0xba, (byte) 0xf8, 0x03,             // mov dx, 0x3f8
                (byte) 0x8a, 0x03,                                // loop: mov al, [rbx]
                (byte) 0x84, (byte) 0xc0,                         // test al, al
                0x74, 0x06,                                       // jz done
                (byte) 0xee,                                      // out dx, al
                0x48, (byte) 0xff, (byte) 0xc3,                   // inc rbx
                (byte) 0xeb, (byte) 0xf4,                         // jmp loop
                (byte) 0xb0, 0x0a, (byte) 0xee,                   // done: mov al, '\n'; out dx, al
                0x66, (byte) 0xba, 0x04, 0x06, 0x66, (byte) 0xb8, 0x00, 0x20, 0x66, (byte) 0xef, // outw 0x604, 0x2000
                (byte) 0xeb, (byte) 0xfe,                         // jmp $
        };
    }

    @Test
    void shouldNameAMissingKernelWithExitCode2() {
        assertThat(run("--kernel=" + dir.resolve("vmlinuz"))).isEqualTo(2);
        assertThat(err.toString()).contains("does not exist").contains("fetch-linux.sh");
    }

    @Test
    void shouldRejectAFileThatIsNoKernelWithExitCode2() throws Exception {
        byte[] junk = new byte[1 << 20];
        new Random(3).nextBytes(junk);
        Path f = dir.resolve("junk");
        Files.write(f, junk);
        assertThat(run("--kernel=" + f)).isEqualTo(2);
        assertThat(err.toString()).contains("is not a bzImage");
    }

    @Test
    void shouldRejectTooLittleMemoryBeforeOpeningKvm() throws Exception {
        SyntheticBzImage img = new SyntheticBzImage();
        img.initSize = 0x3f98000;
        Path k = img.write(dir);
        // A missing KVM device would say so with exit 1: exit 2 shows the memory check came first.
        assertThat(run("--kernel=" + k, "--mem=64M", "--kvm-device=" + dir.resolve("nokvm"))).isEqualTo(2);
        assertThat(err.toString()).contains("too small").contains("at least 80 MiB");
    }

    @ParameterizedTest
    @ValueSource(strings = {"--initrd=x", "--cmdline=quiet"})  // --mem goes with either kind of guest
    void shouldRejectKernelOptionsWithoutAKernel(String option) {
        assertThat(run("--guest=test:idle", option)).isEqualTo(2);
        assertThat(err.toString()).contains("go with --kernel");
    }

    @Test
    void shouldRejectAKernelTogetherWithTheTestGuest() throws Exception {
        Path k = new SyntheticBzImage().write(dir);
        assertThat(run("--kernel=" + k, "--guest=test:idle")).isEqualTo(2);
        assertThat(err.toString()).contains("--kernel boots Linux");
    }

    @Test
    void shouldSayWhatToDoWhenTheKvmDeviceIsMissing() throws Exception {
        Path k = new SyntheticBzImage().write(dir);
        assertThat(run("--kernel=" + k, "--mem=128M", "--kvm-device=" + dir.resolve("nokvm"))).isEqualTo(1);
        assertThat(err.toString()).contains("does not exist").contains("modprobe");
    }

    @ParameterizedTest
    @ValueSource(strings = {"bzImage", "vmlinux"})
    @Tag("kvm")
    void shouldEnterTheKernelWithBootParamsInRsiOnKvm(String format) throws Exception {
        KvmTestSupport.kvm();
        Path k;
        if (format.equals("bzImage")) {
            SyntheticBzImage img = new SyntheticBzImage();
            img.entryCode = echoCmdlineCode();
            k = img.write(dir);
        } else {
            SyntheticVmlinux elf = new SyntheticVmlinux();
            elf.entryCode = echoCmdlineCode();
            k = elf.write(dir);
        }
        Path initrd = dir.resolve("initrd");
        Files.write(initrd, new byte[5000]);
        String cmdline = "console=ttyS0 d3vm.workload=idle format=" + format;
        int code = run("--kernel=" + k, "--initrd=" + initrd, "--cmdline=" + cmdline, "--mem=128M", "-v");
        assertThat(code).as(err.toString()).isZero();
        assertThat(console.toString(StandardCharsets.US_ASCII)).isEqualTo(cmdline + "\n");
        assertThat(err.toString()).contains("powered off").contains(format.equals("bzImage") ? "bzImage" : "ELF vmlinux");
    }
}
