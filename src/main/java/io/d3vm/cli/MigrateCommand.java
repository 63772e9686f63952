package io.d3vm.cli;

import io.d3vm.memory.Sizes;
import io.d3vm.migration.MigrationException;
import io.d3vm.migration.detect.Detectors;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.report.MigrationStatus;
import io.d3vm.migration.send.MigrationSender;
import io.d3vm.migration.send.AuditMismatchException;
import io.d3vm.migration.send.PostcopyRecovery;
import io.d3vm.migration.send.SendOptions;
import io.d3vm.migration.send.Verify;
import io.d3vm.migration.transport.Transport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code d3vm migrate}: builds a source guest (today the synthetic one), migrates it live to a
 * {@code d3vm receive} process and reports. Exit 0 when the destination acknowledged, 1 when the
 * migration failed (the guest kept running here until this process ended), 2 for usage errors.
 */
@Command(name = "migrate",
        mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        sortOptions = false,
        description = {"Migrate a guest live to a `d3vm receive` process (pre-copy with D3 detection).",
                "",
                "Example: d3vm migrate --to 127.0.0.1:7000 --guest synthetic:mem=4G,zero=70,uniform=10,dirty-rate=5000",
                ""})
final class MigrateCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--to", required = true, paramLabel = "HOST:PORT", converter = CliValues.PeerAddress.class,
            description = "where `d3vm receive --listen` runs")
    InetSocketAddress to;

    @Option(names = "--guest", paramLabel = "SPEC",
            description = {"the guest to create and migrate:",
                    "synthetic:mem=SIZE[,zero=PCT][,uniform=PCT][,touched-zero=PCT][,dirty-rate=PAGES/S][,wss=SIZE][,threads=N][,seed=N]",
                    "(defaults: zero=70, uniform=10, touched-zero=50, dirty-rate=0, wss=mem, threads=1, seed=1)"})
    String guest;

    @Option(names = "--api-socket", paramLabel = "PATH",
            description = "migrate the running VM whose control API is there (`d3vm run ... --api-socket PATH`) instead of building --guest")
    Path apiSocket;

    @Option(names = "--detector", paramLabel = "NAME", converter = CliValues.DetectorName.class, description = "none (send every page), full (scan every page), d3 (sample, then confirm). Default: ${DEFAULT-VALUE}")
    String detector = Detectors.DEFAULT_DETECTOR;

    @Option(names = "--samples", paramLabel = "K", description = "words d3 samples per page. Default: ${DEFAULT-VALUE}")
    int samples = Detectors.DEFAULT_SAMPLES;

    @Option(names = "--max-bandwidth", paramLabel = "RATE", converter = CliValues.BytesPerSecond.class,
            description = {"cap on the send rate: bytes/s with binary suffixes as QEMU (1G = 1 GiB/s, 500M, 64K),",
                    "or bits/s with decimal ones (100Mbit, 1Gbit). Default: unlimited"})
    long maxBandwidth;

    @Option(names = "--downtime-limit", paramLabel = "TIME", converter = CliValues.Millis.class,
            description = "pre-copy iterates until the rest can be sent within this pause (e.g. 300ms, 1s). Default: 300ms")
    long downtimeLimitMillis = SendOptions.DEFAULT_DOWNTIME_LIMIT_MILLIS;

    @Option(names = "--verify", paramLabel = "MODE", converter = CliValues.VerifyMode.class,
            description = "incremental (gate on a digest kept page by page + audit of the paused source after GO), strict (whole-memory"
                    + " digest inside the pause), off (no digest; the receiver must allow it). Default: incremental")
    Verify verify = Verify.INCREMENTAL;

    @Option(names = "--auto-converge", description = "when the guest dirties memory faster than pre-copy sends it, throttle it"
            + " as QEMU's auto-converge does: its vCPUs (a synthetic guest's writers) run 100 - P % of the time, P starting at 20"
            + " and growing by 10 whenever two rounds in a row dirtied more than half of what they sent or a round made no"
            + " progress, up to 99")
    boolean autoConverge;

    @Option(names = "--allow-long-downtime", description = "when pre-copy cannot converge (--max-rounds reached, or no progress),"
            + " pause the guest for whatever is left, however far past --downtime-limit. Without it such a migration fails and"
            + " the guest runs on here; --auto-converge, a larger --downtime-limit or more bandwidth are the other ways out")
    boolean allowLongDowntime;

    @Option(names = "--postcopy", description = "when pre-copy cannot converge, switch to post-copy instead of failing: the"
            + " guest pauses only for its state and the bitmap of the pages still to send, runs at the destination at once, and"
            + " fetches those pages as it touches them (the rest follow in the background). Once it runs there, neither side"
            + " holds the whole guest until the last page arrives (docs/RELIABILITY.md)")
    boolean postcopy;

    @Option(names = "--postcopy-after", paramLabel = "N", description = "as --postcopy, and switch after N live rounds at the latest")
    Integer postcopyAfter;

    @Option(names = "--max-postcopy-bandwidth", paramLabel = "RATE", converter = CliValues.BytesPerSecond.class,
            description = "cap on post-copy's stream once the guest runs at the destination (as --max-bandwidth; QEMU's"
                    + " max-postcopy-bandwidth). Default: unlimited (--max-bandwidth shapes the live rounds only)")
    long maxPostcopyBandwidth;

    @Option(names = "--compress", paramLabel = "MODE", converter = CliValues.CompressMode.class,
            description = "compress the pages sent in full: none, lz4, zstd, or auto (zstd, only while the link rather than the"
                    + " CPU is the limit, measured as the migration runs; a batch that does not shrink goes raw). Default: auto")
    io.d3vm.migration.send.ByteSavings.Compress compress = io.d3vm.migration.send.ByteSavings.Compress.AUTO;

    @Option(names = "--duplicates", paramLabel = "MODE", converter = CliValues.DuplicatesMode.class,
            description = "send a page whose exact content the destination already holds as a 16-byte reference (keyed"
                    + " 128-bit hash, checked at the destination): off, on, or auto (only while the link runs below about"
                    + " 2 Gbit/s, where hashing costs less than sending). Default: auto")
    io.d3vm.migration.send.ByteSavings.Duplicates duplicates = io.d3vm.migration.send.ByteSavings.Duplicates.AUTO;

    /** {@link SendOptions#postcopyAfterRounds} of {@code --postcopy} / {@code --postcopy-after}. */
    int postcopyAfterRounds() {
        // 0 or less is refused by SendOptions, so it must not read as "not given"
        return postcopyAfter != null ? (postcopyAfter < 1 ? SendOptions.NO_POSTCOPY - 1 : postcopyAfter)
                : postcopy ? SendOptions.POSTCOPY_WHEN_STUCK : SendOptions.NO_POSTCOPY;
    }

    @Option(names = "--max-rounds", paramLabel = "N", description = "live rounds at most before stop-and-copy. Default: ${DEFAULT-VALUE}")
    int maxRounds = SendOptions.DEFAULT_MAX_ROUNDS;

    @Option(names = "--connect-timeout", paramLabel = "TIME", converter = CliValues.Millis.class,
            description = "give up connecting after this long. Default: 5s")
    long connectTimeoutMillis = SendOptions.DEFAULT_CONNECT_TIMEOUT_MILLIS;

    @Option(names = "--ack-timeout", paramLabel = "TIME", converter = CliValues.Millis.class,
            description = "wait this long for the destination's verdict (it computes a digest first). Default: 120s")
    long ackTimeoutMillis = SendOptions.DEFAULT_ACK_TIMEOUT_MILLIS;

    @Option(names = "--report", paramLabel = "FILE", description = "write the JSON report (QEMU query-migrate names; see docs/REPORT.md) here")
    Path report;

    @Option(names = "--progress", description = "draw the progress line in place even when stdout is not a terminal")
    boolean progress;

    @picocli.CommandLine.Mixin
    TransportOptions transportOptions = new TransportOptions();

    /** {@code --to}, resolved; an unknown host is a bad argument. */
    InetSocketAddress resolvedTarget() {
        try {
            return io.d3vm.migration.transport.HostPort.resolve(to);
        } catch (IllegalArgumentException e) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--to: " + e.getMessage());
        }
    }

    /** Plain TCP, or TLS 1.3 with {@code --tls-dir}. */
    Transport transport() throws IOException {
        return transportOptions.transport(io.d3vm.migration.tls.TlsTransport.DEFAULT_HANDSHAKE_TIMEOUT_MILLIS);
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        PrintWriter out = MigrationOutput.toStdout(report) ? err : stdout; // --report -: stdout is the JSON's
        if ((guest == null) == (apiSocket == null)) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), guest == null
                    ? "say what to migrate: --api-socket PATH (a running VM) or --guest SPEC (a guest built here)"
                    : "give --guest or --api-socket, not both");
        }
        if (apiSocket != null) {
            return ApiMigration.run(this, stdout, err);
        }
        try {
            GuestSources.check(guest);
        } catch (IllegalArgumentException e) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--guest " + guest + ": " + e.getMessage());
        }
        try {
            Detectors.create(detector, samples);
        } catch (IllegalArgumentException e) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--samples " + samples + ": " + e.getMessage());
        }
        SendOptions options;
        try {
            options = new SendOptions(detector, samples, maxBandwidth, downtimeLimitMillis, maxRounds, ackTimeoutMillis,
                    SendOptions.DEFAULT_STALL_TIMEOUT_MILLIS, verify, autoConverge, allowLongDowntime,
                    postcopyAfterRounds(), maxPostcopyBandwidth, new io.d3vm.migration.send.ByteSavings(compress, duplicates));
        } catch (IllegalArgumentException e) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), e.getMessage()); // --downtime-limit 0ms, --max-rounds 0
        }
        InetSocketAddress target = resolvedTarget();
        Transport channel = transport(); // a bad --tls-dir fails before the guest is built
        long t0 = System.nanoTime();
        Detectors.warmUpInBackground(detector, samples); // its one-time start-up overlaps the guest's
        options.savings().warmUpInBackground();           // and so does the content hash's, when references are forced on
        GuestSources sources = new GuestSources();
        Migratable g;
        try {
            g = sources.createSource(guest);
        } catch (RuntimeException e) {
            sources.close();
            throw e;
        }
        out.printf(Locale.ROOT, "guest %s: %s, ready in %.1f s; migrating to %s with detector %s%n", g.describe(),
                Sizes.format(g.memory().totalBytes()), (System.nanoTime() - t0) / 1e9, to.getHostString() + ":" + to.getPort(), detector);
        out.flush();
        MigrationSender sender = new MigrationSender(g, options);
        // Ctrl-C or SIGTERM: cancel cleanly (the destination gets ABORT "migration cancelled" and
        // discards its copy) and let the summary below be printed before the JVM exits (130/143).
        java.util.concurrent.CountDownLatch reported = new java.util.concurrent.CountDownLatch(1);
        Thread onSignal = Thread.ofPlatform().name("d3vm-interrupt").unstarted(() -> {
            if (sender.cancel()) {
                err.println("d3vm: interrupted: cancelling the migration; the destination is told to discard its copy");
                err.flush();
                try {
                    reported.await(MigrationSender.CANCEL_GRACE_MILLIS + 5_000, java.util.concurrent.TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        Runtime.getRuntime().addShutdownHook(onSignal);
        try {
            return migrateAndReport(g, sender, channel, target, stdout, out, err);
        } finally {
            sources.close(); // the guest's VM keeps its own descriptors
            reported.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(onSignal);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running: it was waiting for exactly this
            }
        }
    }

    /** Migrates, then prints the summary, writes the report and returns the exit code. */
    private int migrateAndReport(Migratable g, MigrationSender sender, Transport channel, InetSocketAddress target,
                                 PrintWriter stdout, PrintWriter out, PrintWriter err) {
        MigrationReport r;
        boolean ok;
        try (var p = new MigrationOutput.ProgressPrinter(sender::progress, out, progress || (System.console() != null && System.console().isTerminal()))) {
            sender.migrate(channel, target, (int) Math.min(Integer.MAX_VALUE, connectTimeoutMillis));
            ok = true;
        } catch (AuditMismatchException e) {
            r = sender.report();
            out.print(MigrationOutput.summary(r));
            out.flush();
            MigrationOutput.writeReport(report, r, stdout, err);
            // The destination runs the guest; this process ends and its paused copy with it: say so loudly.
            g.shutdown();
            err.println("d3vm: " + e.getMessage());
            return ExitCode.AUDIT_MISMATCH;
        } catch (MigrationException e) {
            ok = PostcopyRecovery.resumeUntilDone(sender, channel, target, (int) Math.min(Integer.MAX_VALUE, connectTimeoutMillis), line -> {
                err.println("d3vm: " + line);
                err.flush();
            });
        } finally {
            r = sender.report();
        }
        if (!ok && r.status != MigrationStatus.UNCONFIRMED && r.error != null && r.error.endsWith(MigrationSender.GUEST_KEEPS_RUNNING)) {
            // The sender left the guest running, intact, but a guest built by this command ends with
            // this process: the message (and the report) say that instead.
            r.error = r.error.substring(0, r.error.length() - MigrationSender.GUEST_KEEPS_RUNNING.length())
                    + "; the guest ran on here, intact, and ends with this command"
                    + " (a guest that must outlive a failed migration runs in `d3vm run --api-socket`)";
        }
        out.print(MigrationOutput.summary(r));
        out.flush();
        MigrationOutput.writeReport(report, r, stdout, err);
        if (!ok) {
            // When unconfirmed, the guest is paused here and the destination holds the verified copy;
            // this process now ends, and its copy with it.
            g.shutdown();
            err.println("d3vm: " + (r.error == null ? "the migration failed" : r.error));
            return r.status == MigrationStatus.UNCONFIRMED ? ExitCode.UNCONFIRMED : ExitCode.FAILED;
        }
        return ExitCode.OK;
    }
}
