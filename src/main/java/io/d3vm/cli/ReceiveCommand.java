package io.d3vm.cli;

import io.d3vm.kvm.Kvm;
import io.d3vm.memory.Sizes;
import io.d3vm.vmm.vstate.Vm;
import io.d3vm.migration.MigrationException;
import io.d3vm.migration.Warmup;
import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.migration.recv.HandoverUnconfirmedException;
import io.d3vm.migration.recv.HeldPostcopy;
import io.d3vm.migration.recv.PostcopyPausedException;
import io.d3vm.migration.recv.MigrationReceiver;
import io.d3vm.migration.recv.ReceiveStats;
import io.d3vm.migration.recv.ReceiverLimits;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.report.MigrationStatus;
import io.d3vm.migration.report.PauseStep;
import io.d3vm.migration.transport.Connection;
import io.d3vm.migration.transport.HostPort;
import io.d3vm.migration.transport.Listener;
import io.d3vm.migration.transport.Transport;
import io.d3vm.migration.wire.Wire;
import io.d3vm.migration.synthetic.SyntheticGuest;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code d3vm receive}: listens for migrations and runs each received guest here. Every refusal or
 * failure discards the half-received guest and, unless {@code --once}, waits for the next
 * migration. A received guest runs until the next migration arrives or the process ends.
 */
@Command(name = "receive",
        mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        sortOptions = false,
        description = {"Listen for a live migration from `d3vm migrate` and run the received guest here.",
                "",
                "Example: d3vm receive --listen 127.0.0.1:7000 --once --report dest.json",
                ""})
final class ReceiveCommand implements Callable<Integer> {
    /** The peer of the migration being received, for the message on a signal; null between migrations. */
    private volatile String receiving;


    @Spec
    CommandSpec spec;

    @Option(names = "--listen", required = true, paramLabel = "HOST:PORT", converter = CliValues.ListenAddress.class,
            description = "address to listen on (:PORT for all interfaces; port 0 picks a free one and prints it)")
    InetSocketAddress listen;

    @Option(names = "--once", description = "exit after the first migration: 0 if it completed, 1 if not, 3 if the hand-over was unconfirmed (no GO)")
    boolean once;

    @Option(names = "--report", paramLabel = "FILE", description = "write the JSON report of each migration here (the last one wins)")
    Path report;

    @Option(names = "--max-memory", paramLabel = "SIZE", converter = CliValues.Bytes.class,
            description = "refuse guests with more memory than this. Default: 64G")
    long maxMemory = ReceiverLimits.DEFAULT_MAX_GUEST_MEMORY;

    @Option(names = "--max-frame", paramLabel = "SIZE", converter = CliValues.Bytes.class,
            description = "refuse frames longer than this (at least 2060K: one full page batch is 2105368 bytes). Default: 8M")
    long maxFrame = Wire.DEFAULT_MAX_FRAME;

    @Option(names = "--read-timeout", paramLabel = "TIME", converter = CliValues.Millis.class,
            description = "drop a source that sends nothing for this long. Default: 30s")
    long readTimeoutMillis = ReceiverLimits.DEFAULT_READ_TIMEOUT_MILLIS;

    @Option(names = "--allow-unverified", description = "accept sources that send no memory digest (migrate --verify off; for measurements)")
    boolean allowUnverified;

    @Option(names = "--api-socket", paramLabel = "PATH",
            description = "serve the control API of each received VM here (to migrate it on: `d3vm migrate --api-socket PATH --to ...`)")
    Path apiSocket;

    @Option(names = "--kvm-device", paramLabel = "PATH", description = "the KVM device for test: guests (default ${DEFAULT-VALUE})")
    String kvmDevice = Kvm.DEFAULT_PATH;

    @Option(names = "--debugcon", paramLabel = "FILE",
            description = "give each received test: guest an ISA debug console (port 0xe9) writing to FILE, unbuffered (as run --debugcon)")
    Path debugcon;

    private final OutputStream console;
    private OutputStream debugconOut;
    private KvmGuestDestinations testGuests;

    /** The CLI's instance: received VMs' consoles on this process's stdout. */
    ReceiveCommand() {
        this(new FileOutputStream(FileDescriptor.out));
    }

    /** For tests: received VMs' consoles go to {@code console}. */
    ReceiveCommand(OutputStream console) {
        this.console = console;
    }

    @picocli.CommandLine.Mixin
    TransportOptions transportOptions = new TransportOptions();

    /** Plain TCP, or TLS 1.3 with {@code --tls-dir}. */
    Transport transport() throws IOException {
        return transportOptions.transport(readTimeoutMillis);
    }

    /**
     * Does now, while nobody waits, the one-time work the first migration would otherwise pay in
     * its setup, round 1 and pause: compiling the migration path ({@link Warmup}).
     */
    private static void prepareForFirstMigration(PrintWriter err) {
        Warmup.run(err::println);
        // What this command does the moment a received guest resumes (its summary, its report's
        // JSON) would otherwise run cold, class loading and compiling on the cores the guest needs.
        ReceiveStats s = new ReceiveStats();
        s.description = "test:warm-up";
        s.peer = "127.0.0.1:1";
        s.verify = "incremental";
        s.phase(PauseStep.ACK, 1L);
        for (int i = 0; i < 20; i++) {
            MigrationReport r = s.toReport(true, null, "tcp");
            MigrationOutput.summary(r);
            r.toJsonString();
        }
    }

    /**
     * The guest kinds accepted: test guests only when KVM opens here (checked now, not when the
     * first migration arrives). A --kvm-device given on the command line that does not open is a
     * bad argument; the default /dev/kvm missing leaves synthetic guests, and says why.
     */
    GuestFactories factories(PrintWriter err) {
        testGuests = new KvmGuestDestinations(kvmDevice, console, debugconOut);
        String problem = testGuests.openKvm();
        if (problem == null) {
            return GuestSources.destinations(testGuests);
        }
        if (spec.commandLine().getParseResult().hasMatchedOption("--kvm-device")) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--kvm-device " + kvmDevice + ": " + problem);
        }
        err.println("d3vm: test: guests cannot be received here: " + problem);
        err.flush();
        testGuests = null;
        return SyntheticGuest.register(new GuestFactories());
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        ReceiverLimits limits = new ReceiverLimits(maxMemory, maxFrame, readTimeoutMillis, allowUnverified);
        InetSocketAddress at;
        try {
            at = HostPort.resolve(listen);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--listen: " + e.getMessage());
        }
        if (debugcon != null) {
            debugconOut = CliValues.openDebugcon(debugcon, spec.commandLine());
        }
        GuestFactories factories = factories(err);
        Listener l;
        try {
            l = transport().listen(at);
        } catch (BindException e) {
            throw new IllegalArgumentException("cannot listen on " + at.getHostString() + ":" + at.getPort() + ": " + e.getMessage()
                    + " (another process holds the port, or the address is not local)");
        }
        prepareForFirstMigration(err);
        Migratable running = null;
        ReceivedVm vm = null;
        HeldPostcopy heldPostcopy = null;
        // SIGTERM or Ctrl-C: say so, and what happens to a migration under way (nothing runs half-received).
        Thread onSignal = Thread.ofPlatform().name("d3vm-interrupt").unstarted(() -> {
            String peer = receiving;
            err.println("d3vm: receive stopped by a signal" + (peer == null ? ""
                    : "; the migration from " + peer + " is abandoned: its half-received guest never runs here, the source keeps it"));
            err.flush();
        });
        Runtime.getRuntime().addShutdownHook(onSignal);
        try (l) {
            // The address as it was typed (0.0.0.0, [::]), with the port bound (for :0): pasteable into --to.
            out.printf(Locale.ROOT, "listening on %s for migrations (guests: %s; max memory %s)%n",
                    HostPort.format(listen, l.localAddress().getPort()), factories.kinds(), Sizes.format(maxMemory));
            out.flush();
            while (true) {
                Connection c;
                try {
                    c = l.accept();
                } catch (IOException e) {
                    if (vm != null && vm.endedOnItsOwn()) {
                        return vm.exitCode(); // the guest powered off or failed here: the listener was closed for that
                    }
                    err.println("d3vm: accept failed: " + e.getMessage());
                    return 1;
                }
                if (heldPostcopy == null && vm != null && vm.held()) {
                    // The held guest may be the only copy: a new migration must not replace it.
                    err.println("d3vm: refused a migration from " + c.peer() + ": a guest is held paused here after an unconfirmed"
                            + " hand-over; `cont` or `quit` it through the control API first");
                    err.flush();
                    try {
                        c.close();
                    } catch (IOException ignored) {
                        // the source sees the connection end and keeps its guest
                    }
                    continue;
                }
                if (running != null && heldPostcopy == null) {
                    // One guest at a time: the previous one makes room for the next.
                    if (vm != null) {
                        vm.replaced();
                    }
                    running.shutdown();
                    running = null;
                }
                // While an interrupted post-copy is held, only its source's resumption may come in.
                HeldPostcopy resuming = heldPostcopy;
                heldPostcopy = null;
                out.println((resuming != null ? "resuming the interrupted post-copy from " : "migration from ") + c.peer() + " ...");
                receiving = c.peer();
                out.flush();
                MigrationReceiver receiver = resuming != null ? resuming.receiver() : new MigrationReceiver(factories, limits);
                boolean ok;
                String error = null;
                Migratable paused = null;
                boolean postcopyPaused = false;
                try (c) {
                    running = resuming != null ? resuming.resume(c) : receiver.receive(c);
                    ok = true;
                } catch (HandoverUnconfirmedException e) {
                    ok = false;
                    error = e.getMessage();
                    paused = e.guest();
                } catch (PostcopyPausedException e) {
                    ok = false;
                    error = e.getMessage();
                    paused = e.guest();
                    postcopyPaused = true;
                    heldPostcopy = e.held();
                } catch (MigrationException e) {
                    ok = false;
                    error = e.getMessage();
                }
                receiving = null;
                MigrationReport r = receiver.stats().toReport(ok, error, transport().name());
                if (paused != null) {
                    r.status = postcopyPaused ? MigrationStatus.POSTCOPY_PAUSED : MigrationStatus.UNCONFIRMED;
                }
                out.print(MigrationOutput.summary(r));
                vm = null;
                if (ok && running instanceof Vm v) {
                    out.println("  guest " + r.guest + " is running here; its console continues below");
                    out.flush();
                    vm = ReceivedVm.watch(v, testGuests.tapOf(v), apiSocket, l, out, err);
                } else if (ok) {
                    out.println("  guest " + r.guest + " is running here");
                }
                out.flush();
                if (!ok) {
                    err.println("d3vm: " + error);
                    if (postcopyPaused) {
                        // Part of the guest's memory is only at the source: never discard this half.
                        err.println("d3vm: the guest is held here, paused, with the pages it already had; this process waits for the"
                                + " source to resume the post-copy (it reconnects by itself) and accepts nothing else meanwhile. Keep it and"
                                + " the source running: each holds memory the other lacks");
                        running = paused;
                    } else if (paused instanceof Vm v) {
                        // Never resumed without GO, never discarded: the operator decides through the API.
                        Path sock = apiSocket != null ? apiSocket : heldApiSocket();
                        vm = ReceivedVm.hold(v, testGuests.tapOf(v), sock, error, l, err);
                        err.println("d3vm: the verified guest is held paused here; it may be the only copy. If the source's migrate"
                                + " ended `unconfirmed` or `completed` (it committed and never runs the guest again), run it here: "
                                + "echo '{\"execute\": \"cont\"}' | socat - UNIX-CONNECT:" + sock
                                + " ; if the source runs it, discard this copy with {\"execute\": \"quit\"}");
                        running = paused;
                    } else if (paused != null) {
                        // Not a VM (the synthetic test guest): no control API serves it.
                        err.println(once ? "d3vm: --once: this process exits now without resuming the guest, and the paused copy ends with it"
                                : "d3vm: the verified guest stays paused in this process until the next migration arrives or the process ends");
                        running = paused;
                    }
                    err.flush();
                }
                MigrationOutput.writeReport(report, r, out, err);
                if (heldPostcopy != null) {
                    continue; // --once too: this process holds half of a guest until its source resumes
                }
                if (!once) {
                    if (testGuests != null) {
                        testGuests.prepareNextIfNone();
                    }
                }
                if (once) {
                    if (vm != null) {
                        // A VM runs until it ends here (power-off: its exit code) or migrates on (0).
                        int code = vm.awaitExitCode();
                        running = null;
                        return code;
                    }
                    if (running != null) {
                        running.shutdown();
                        running = null;
                    }
                    return ok ? ExitCode.OK : paused != null ? ExitCode.UNCONFIRMED : ExitCode.FAILED;
                }
            }
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(onSignal);
            } catch (IllegalStateException shuttingDown) {
                // the hook is saying why
            }
            if (running != null) {
                if (vm != null) {
                    vm.replaced();
                }
                running.shutdown();
            }
        }
    }

    /** Where a held guest's API is served when receive was started without --api-socket. */
    private static Path heldApiSocket() {
        return Path.of(System.getProperty("java.io.tmpdir"), "d3vm-receive-" + ProcessHandle.current().pid() + ".sock");
    }
}
