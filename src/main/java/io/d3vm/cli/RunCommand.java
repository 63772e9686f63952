package io.d3vm.cli;

import io.d3vm.api.ApiServer;
import io.d3vm.api.ConsoleTap;
import io.d3vm.kvm.Kvm;
import io.d3vm.kvm.KvmUnavailableException;
import io.d3vm.memory.MemoryImage;
import io.d3vm.memory.Sizes;
import io.d3vm.migration.Warmup;
import io.d3vm.vmm.boot.PreparedGuest;
import io.d3vm.vmm.boot.linux.LinuxBootException;
import io.d3vm.vmm.boot.linux.LinuxGuestBoot;
import io.d3vm.vmm.boot.multiboot.MultibootGuestBoot;
import io.d3vm.vmm.boot.testguest.TestGuestImage;
import io.d3vm.vmm.boot.testguest.TestGuestBoot;
import io.d3vm.vmm.boot.testguest.TestGuestSpec;
import io.d3vm.vmm.vstate.StateWarmup;
import io.d3vm.vmm.vstate.Vm;
import io.d3vm.vmm.vstate.VmConfig;
import io.d3vm.vmm.vstate.VmOutcome;
import io.d3vm.vmm.vstate.X86Layout;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

/**
 * {@code d3vm run}: boots a guest on KVM with its serial console on stdout/stdin and exits when
 * the guest powers off or resets (exit 0) or fails (exit 1, with the exit reason and guest RIP).
 *
 * <p>Guest kinds are chosen in {@link #prepareGuest}: the test guest ({@code --guest test:...}) or
 * a Linux kernel ({@code --kernel FILE [--initrd FILE] [--cmdline ...] [--mem SIZE]}, loaded by
 * {@link LinuxLoader}); another kind adds its options here and a branch there.
 */
@Command(name = "run",
        mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = {"Boot a guest on KVM; its serial console is on stdout/stdin.",
                "Exit code 0 when the guest powers off or resets, 1 when it fails, 2 for bad arguments."})
public final class RunCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--guest", paramLabel = "test:WORKLOAD[,mem=SIZE][,KEY=VALUE...]",
            description = {"the test guest and its workload: idle, dirty, verify or image;",
                    "mem=SIZE (default 256M, at least 32M); other keys go to the guest's command line",
                    "(e.g. test:dirty,mem=1G,wss=64,rate=2000 or test:verify,mem=512M,seed=7)"})
    String guest;

    @Option(names = "--kernel", paramLabel = "FILE",
            description = "a kernel to boot, as QEMU's -kernel: a Multiboot v1 kernel (ELF32 or a.out kludge; entered in"
                    + " 32-bit protected mode), or Linux: a bzImage (build/linux/vmlinuz) or its ELF vmlinux (build/linux/vmlinux;"
                    + " scripts/fetch-linux.sh fetches Debian's)")
    Path kernel;

    @Option(names = "--module", paramLabel = "FILE[,ARGS]",
            description = "a Multiboot module for --kernel (repeatable): FILE is loaded page-aligned above the kernel, its"
                    + " string is \"FILE ARGS\" (as QEMU's -initrd \"FILE ARGS\")")
    List<String> modules = new ArrayList<>();

    @Option(names = "--initrd", paramLabel = "FILE",
            description = "initramfs for a Linux --kernel (scripts/make-initramfs.sh builds build/linux/initramfs.cpio.gz)")
    Path initrd;

    @Option(names = "--cmdline", paramLabel = "\"ARGS\"",
            description = "kernel command line for --kernel (Linux default \"" + DEFAULT_CMDLINE + "\", Multiboot default empty)")
    String cmdline;

    @Option(names = "--mem", paramLabel = "SIZE", converter = CliValues.Bytes.class,
            description = "guest RAM (default 1G for --kernel, 256M for the test guest; same as mem= in --guest)")
    Long mem;

    @Option(names = "--vcpus", paramLabel = "N", description = "virtual CPUs (default ${DEFAULT-VALUE})")
    int vcpus = 1;

    @Option(names = "--serial-log", paramLabel = "FILE", description = "also write the serial console output to FILE")
    Path serialLog;

    @Option(names = "--debugcon", paramLabel = "FILE",
            description = {"give the guest an ISA debug console (port 0xe9, as QEMU's isa-debugcon) writing to FILE,",
                    "unbuffered (a FIFO works: the bench timestamps the test guest's heartbeat=1 bytes there)"})
    Path debugcon;

    @Option(names = "--guest-binary", paramLabel = "FILE",
            description = "test-guest ELF to boot instead of the built-in one (classpath /guest/d3guest.elf)")
    Path guestBinary;

    @Option(names = "--image", paramLabel = "FILE",
            description = "memory image (raw or ELF core) for the image workload, placed at 16 MiB or the guest's image=0xADDR:0xSIZE")
    Path image;

    @Option(names = "--kvm-device", paramLabel = "PATH", description = "the KVM device (default ${DEFAULT-VALUE})")
    String kvmDevice = Kvm.DEFAULT_PATH;

    @Option(names = "--api-socket", paramLabel = "PATH",
            description = "serve the control API (JSON lines, QMP style; see docs/API.md) on this Unix socket while the guest runs")
    Path apiSocket;

    @Option(names = "--dump-memory", paramLabel = "FILE",
            description = {"write the guest's memory to FILE as an ELF core (the format of QEMU's dump-guest-memory;",
                    "`d3vm analyze FILE` classifies it): at --dump-after, else when the guest ends"})
    Path dumpMemory;

    @Option(names = "--dump-after", paramLabel = "DURATION", converter = CliValues.Millis.class,
            description = "write --dump-memory this long after the guest starts (e.g. 5s); the guest is paused while the file is written, then runs on")
    Long dumpAfterMillis;

    @Option(names = {"-v", "--verbose"}, description = "report layout, start-up times and exit counts on stderr")
    boolean verbose;

    static final String DEFAULT_CMDLINE = "console=ttyS0";
    static final long DEFAULT_LINUX_MEM = 1L << 30;
    /** QEMU's default guest size, for kernels written for it. */
    static final long DEFAULT_MULTIBOOT_MEM = 128L << 20;

    private final InputStream consoleIn;
    private final OutputStream consoleOut;

    /** The CLI's instance: console on the process's stdin/stdout. */
    public RunCommand() {
        this(new FileInputStream(FileDescriptor.in), new FileOutputStream(FileDescriptor.out));
    }

    /** For tests: console on the given streams ({@code in} may be null: no console input). */
    public RunCommand(InputStream consoleIn, OutputStream consoleOut) {
        this.consoleIn = consoleIn;
        this.consoleOut = consoleOut;
    }

    @Override
    public Integer call() throws Exception {
        long callStart = System.nanoTime();
        PrintWriter err = spec.commandLine().getErr();
        PreparedGuest prepared;
        try {
            if (vcpus < 1 || vcpus > VmConfig.MAX_VCPUS) {
                throw new IllegalArgumentException("--vcpus must be 1.." + VmConfig.MAX_VCPUS);
            }
            checkDumpOptions();
            prepared = prepareGuest();
        } catch (IllegalArgumentException | IOException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }

        Kvm kvm;
        try {
            kvm = Kvm.open(kvmDevice);
        } catch (KvmUnavailableException e) {
            err.println("d3vm run: " + e.getMessage());
            err.flush();
            return 1;
        }
        OutputStream console = consoleOut;
        OutputStream log = null;
        if (serialLog != null) {
            try {
                log = Files.newOutputStream(serialLog);
            } catch (IOException e) {
                kvm.close();
                throw new CommandLine.ParameterException(spec.commandLine(), "--serial-log " + serialLog
                        + ": cannot open it for writing (" + CliValues.reason(e) + ")");
            }
            console = new Tee(consoleOut, log);
        }
        ConsoleTap tap = new ConsoleTap(console);
        StartupProbe probe = new StartupProbe(tap, prepared.bootLine());
        OutputStream debugconOut = debugcon == null ? null : CliValues.openDebugcon(debugcon, spec.commandLine());
        long createStart = System.nanoTime();
        try (kvm; Vm vm = Vm.create(kvm, new VmConfig(X86Layout.forMemory(prepared.memBytes()), vcpus, probe,
                prepared.description(), debugconOut))) {
            long created = System.nanoTime();
            PreparedGuest.Loaded loaded = prepared.load(vm.memory());
            vm.setUpBootVcpu(loaded.entry());
            long loadedAt = System.nanoTime();
            if (verbose) {
                err.printf("d3vm: %s; %d MiB RAM in %d region(s), %d vCPU(s)%n", loaded.summary(),
                        prepared.memBytes() >> 20, vm.memory().regions().size(), vcpus);
            }
            ApiServer api = apiSocket == null ? null : VmApi.serve(apiSocket, vm, tap, err);
            if (api != null) {
                // A guest under the API may be migrated: compile the migration path now, while it boots.
                Warmup.runInBackground(() -> StateWarmup.run(kvm), err::println);
            }
            MemoryDump dump = dumpMemory == null ? null : new MemoryDump(dumpMemory, vm, api, err);
            startConsoleInput(vm);
            vm.start();
            long startedAt = System.nanoTime();
            if (dump != null && dumpAfterMillis != null) {
                dump.scheduleAfter(dumpAfterMillis);
            }
            VmOutcome outcome = vm.awaitOutcome();
            String migratedTo = VmApi.end(api, outcome);
            if (dump != null) {
                dump.atEnd();
            }
            long end = System.nanoTime();
            if (verbose) {
                err.printf("d3vm: start-up: JVM start -> command %s, -> VM create %s, -> boot line %s; VM create -> boot line %s"
                                + " (create %s, load %s, start -> first serial byte %s, -> boot line %s)%n",
                        sinceJvmStart(callStart), sinceJvmStart(createStart), sinceJvmStart(probe.bootLineNanos),
                        ms(probe.bootLineNanos, createStart),
                        ms(created, createStart), ms(loadedAt, created), ms(probe.firstByteNanos, startedAt),
                        ms(probe.bootLineNanos, startedAt));
                double secs = (end - createStart) / 1e9;
                err.printf("d3vm: %d KVM exits in %.2f s (%.0f/s); %d accesses to unclaimed ports (last 0x%x)%n",
                        vm.exitCount(), secs, vm.exitCount() / secs, vm.ioBus().unclaimedAccesses(),
                        Math.max(0, vm.ioBus().lastUnclaimedPort()));
            }
            if (migratedTo != null) {
                err.println("d3vm: the guest migrated live to " + migratedTo + " and runs there; it has ended here");
                err.flush();
                return 0;
            }
            err.println("d3vm: " + outcome.describe());
            err.flush();
            return outcome.exitCode();
        } finally {
            if (log != null) {
                log.close();
            }
        }
    }

    /** Time from the JVM's start (wall clock, ms) to the moment {@code at} (a {@link System#nanoTime} value). */
    private static String sinceJvmStart(long at) {
        if (at == 0) {
            return "n/a";
        }
        long jvmStart = java.lang.management.ManagementFactory.getRuntimeMXBean().getStartTime();
        long atWall = System.currentTimeMillis() - (System.nanoTime() - at) / 1_000_000;
        return (atWall - jvmStart) + " ms";
    }

    private static String ms(long at, long from) {
        return at == 0 ? "n/a" : String.format("%.1f ms", (at - from) / 1e6);
    }

    private void checkDumpOptions() {
        if (dumpAfterMillis != null && dumpMemory == null) {
            throw new IllegalArgumentException("--dump-after says when to write --dump-memory FILE; give the file too");
        }
        if (dumpMemory != null) {
            Path dir = dumpMemory.toAbsolutePath().getParent();
            if (dir == null || !Files.isDirectory(dir)) {
                throw new IllegalArgumentException("--dump-memory " + dumpMemory + ": directory " + dir + " does not exist");
            }
            if (Files.isDirectory(dumpMemory)) {
                throw new IllegalArgumentException("--dump-memory " + dumpMemory + " is a directory; name a file");
            }
        }
    }

    /** Picks the guest kind from the options. */
    PreparedGuest prepareGuest() throws IOException {
        if (kernel != null) {
            return MultibootGuestBoot.isMultiboot(kernel) ? prepareMultiboot() : prepareLinux();
        }
        if (!modules.isEmpty()) {
            throw new IllegalArgumentException("--module goes with a Multiboot --kernel");
        }
        if (initrd != null || cmdline != null) {
            throw new IllegalArgumentException("--initrd and --cmdline go with --kernel (the test guest takes its options in --guest)");
        }
        if (guest == null) {
            throw new IllegalArgumentException("say what to boot: --guest test:<workload>[,mem=SIZE] (workloads: idle, dirty, verify, image)"
                    + " or --kernel FILE [--initrd FILE] [--cmdline \"...\"] [--mem SIZE]");
        }
        TestGuestSpec parsed = TestGuestSpec.parse(guest);
        if (mem != null && java.util.Arrays.stream(guest.split(",")).anyMatch(p -> p.startsWith("mem=")) && parsed.memBytes() != mem) {
            throw new IllegalArgumentException("--mem " + Sizes.format(mem) + " and mem=" + TestGuestSpec.formatSize(parsed.memBytes())
                    + " in --guest disagree: give the size once");
        }
        TestGuestSpec ts = mem == null ? parsed : new TestGuestSpec(parsed.workload(), mem, parsed.params());
        if (ts.params().containsKey(TestGuestSpec.VCPUS_KEY)) {
            throw new IllegalArgumentException("give the vCPU count with --vcpus N, not vcpus= in --guest");
        }
        // A migration destination builds as many vCPUs as the description says.
        String description = vcpus > 1 ? ts.withParam(TestGuestSpec.VCPUS_KEY, Integer.toString(vcpus)).describe() : ts.describe();
        if (ts.workload().equals("image") && image == null) {
            throw new IllegalArgumentException("the image workload needs --image FILE (a raw memory image or an ELF core)");
        }
        if (image != null && !ts.workload().equals("image")) {
            throw new IllegalArgumentException("--image is only for the image workload");
        }
        TestGuestImage binary = guestBinary != null ? TestGuestImage.read(guestBinary) : TestGuestImage.builtIn();
        return new TestGuestBoot(ts, description, binary, image != null ? MemoryImage.open(image) : null);
    }

    /**
     * A Linux kernel: every check the loader makes (file, format, command line, memory size and
     * placement) runs here, before /dev/kvm is opened, so bad arguments exit 2 with the reason.
     */
    private PreparedGuest prepareLinux() {
        if (guest != null || guestBinary != null || image != null) {
            throw new IllegalArgumentException("--kernel boots Linux; --guest, --guest-binary and --image are for the test guest");
        }
        if (!modules.isEmpty()) {
            throw new IllegalArgumentException("--module is for Multiboot kernels; " + kernel + " has no Multiboot header"
                    + " (a Linux kernel takes --initrd)");
        }
        long memBytes = mem != null ? mem : DEFAULT_LINUX_MEM;
        try {
            return LinuxGuestBoot.prepare(X86Layout.forMemory(memBytes), kernel, Optional.ofNullable(initrd),
                    cmdline != null ? cmdline : DEFAULT_CMDLINE, vcpus);
        } catch (LinuxBootException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    /** A Multiboot v1 kernel: header, segments, modules and sizes checked here, before /dev/kvm is opened. */
    private PreparedGuest prepareMultiboot() throws IOException {
        if (guest != null || guestBinary != null || image != null) {
            throw new IllegalArgumentException("--kernel boots a kernel; --guest, --guest-binary and --image are for the test guest");
        }
        if (initrd != null) {
            throw new IllegalArgumentException("--initrd is for Linux; " + kernel + " is a Multiboot kernel: give files as --module FILE[,ARGS]");
        }
        return MultibootGuestBoot.prepare(X86Layout.forMemory(mem != null ? mem : DEFAULT_MULTIBOOT_MEM), kernel,
                cmdline != null ? cmdline : "", modules, vcpus);
    }

    /** Feeds console input to the guest's serial port from a daemon thread, while the VM runs. */
    private void startConsoleInput(Vm vm) {
        if (consoleIn == null) {
            return;
        }
        Thread t = Thread.ofPlatform().name("serial-stdin").daemon(true).start(() -> {
            byte[] buf = new byte[256];
            try {
                int n;
                while ((n = consoleIn.read(buf)) > 0) {
                    vm.serial().enqueueInput(buf, n);
                }
            } catch (IOException | InterruptedException e) {
                // The console went away; the guest keeps running without input.
            }
        });
        t.setUncaughtExceptionHandler((th, ex) -> { });
    }

    /** Writes to two streams (console and --serial-log). */
    private static final class Tee extends OutputStream {
        private final OutputStream a, b;

        Tee(OutputStream a, OutputStream b) {
            this.a = a;
            this.b = b;
        }

        @Override
        public void write(int x) throws IOException {
            a.write(x);
            b.write(x);
        }

        @Override
        public void flush() throws IOException {
            a.flush();
            b.flush();
        }
    }

    /** Passes console output through and notes when the first byte and the guest's boot line arrive. */
    private static final class StartupProbe extends OutputStream {
        private final byte[] boot;
        private final OutputStream out;
        private volatile long firstByteNanos;
        private volatile long bootLineNanos;
        private int matched;
        private boolean lineStart = true;

        StartupProbe(OutputStream out, String bootLine) {
            this.out = out;
            this.boot = bootLine.getBytes(StandardCharsets.US_ASCII);
        }

        @Override
        public void write(int x) throws IOException {
            if (firstByteNanos == 0) {
                firstByteNanos = System.nanoTime();
            }
            if (bootLineNanos == 0 && boot.length == 0) {
                bootLineNanos = firstByteNanos; // no boot line known: the first byte says the guest is up
            }
            if (bootLineNanos == 0) {
                if (lineStart || matched > 0) {
                    matched = (x & 0xff) == boot[matched] ? matched + 1 : 0;
                    if (matched == boot.length) {
                        bootLineNanos = System.nanoTime();
                    }
                }
                lineStart = x == '\n';
            }
            out.write(x);
        }

        @Override
        public void flush() throws IOException {
            out.flush();
        }
    }
}
