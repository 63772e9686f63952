package io.d3vm.guest;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * Runs the test guest under qemu-system-x86_64 for the "qemu" tests: finds QEMU, picks KVM when
 * /dev/kvm opens (with the CPU model this host's kvm_pvm needs) or TCG otherwise, and collects the
 * guest's "d3guest: " serial lines.
 */
final class QemuGuest implements AutoCloseable {

    /** Why QEMU tests can't run here, or empty when they can. */
    static Optional<String> unavailableReason() {
        return qemuBinary().isPresent() ? Optional.empty()
                : Optional.of("qemu-system-x86_64 is not installed (apt-get install -y qemu-system-x86)");
    }

    static Optional<Path> qemuBinary() {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            Path p = Path.of(dir, "qemu-system-x86_64");
            if (Files.isExecutable(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    static boolean kvmUsable() {
        Path kvm = Path.of("/dev/kvm");
        return Files.isReadable(kvm) && Files.isWritable(kvm);
    }

    static List<String> accelArgs() {
        return kvmUsable()
                ? List.of("-accel", "kvm", "-cpu", "host,-arch-capabilities")
                : List.of("-accel", "tcg", "-cpu", "qemu64");
    }

    private final Process process;
    private final List<String> lines = Collections.synchronizedList(new ArrayList<>());
    /** Every line QEMU printed (console and its own messages), for failure messages. */
    private final List<String> output = Collections.synchronizedList(new ArrayList<>());
    private final Thread reader;

    private final String prefix;

    private QemuGuest(Process process, String prefix) {
        this.process = process;
        this.prefix = prefix;
        this.reader = Thread.ofPlatform().daemon().start(() -> readLines(process.getInputStream()));
    }

    /** Starts QEMU with the guest ELF, {@code memMiB} of RAM, the command line and extra args. */
    static QemuGuest start(Path elf, int memMiB, String cmdline, List<String> extra) throws IOException {
        return start(elf, memMiB, cmdline, extra, "d3guest: ");
    }

    /** As {@link #start(Path, int, String, List)}, collecting the serial lines that contain {@code prefix}. */
    static QemuGuest start(Path elf, int memMiB, String cmdline, List<String> extra, String prefix) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(qemuBinary().orElseThrow().toString(),
                "-M", "pc", "-m", Integer.toString(memMiB), "-nographic", "-no-reboot",
                "-kernel", elf.toString(), "-append", cmdline,
                "-device", "isa-debug-exit,iobase=0xf4,iosize=4"));
        if (Files.isReadable(Path.of("/usr/share/qemu/qboot.rom"))) {
            // SeaBIOS needs ~8 s to reach the guest under this host's kvm_pvm, qboot ~0.5 s.
            cmd.addAll(List.of("-bios", "qboot.rom"));
        }
        cmd.addAll(accelArgs());
        cmd.addAll(extra);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        return new QemuGuest(pb.start(), prefix);
    }

    private void readLines(InputStream in) {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.ISO_8859_1))) {
            String l;
            while ((l = r.readLine()) != null) {
                output.add(l);
                // SeaBIOS prints "Booting from ROM.." without a newline before the guest's first line.
                int at = l.indexOf(prefix);
                if (at >= 0) {
                    lines.add(l.substring(at));
                }
            }
        } catch (IOException e) {
            lines.add("(qemu output closed: " + e.getMessage() + ")");
        }
    }

    /** Everything QEMU printed so far, one line per line. */
    String output() {
        synchronized (output) {
            return String.join("\n", output);
        }
    }

    List<String> lines() {
        synchronized (lines) {
            return List.copyOf(lines);
        }
    }

    /** Waits until a line matches; returns it, or empty after the timeout or when QEMU exited. */
    Optional<String> awaitLine(Predicate<String> match, Duration timeout) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        int seen = 0;
        while (System.nanoTime() < end) {
            List<String> now = lines();
            for (; seen < now.size(); seen++) {
                if (match.test(now.get(seen))) {
                    return Optional.of(now.get(seen));
                }
            }
            if (!process.isAlive()) {
                reader.join(1000);
                if (lines().size() == seen) {
                    return Optional.empty();
                }
                continue;
            }
            Thread.sleep(20);
        }
        return Optional.empty();
    }

    /** Waits for QEMU to exit; returns its exit code, or -1 (and kills it) after the timeout. */
    int awaitExit(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly().waitFor();
            return -1;
        }
        reader.join(2000);
        return process.exitValue();
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            process.destroyForcibly().waitFor();
        }
        reader.join(2000);
    }
}
