package io.d3vm.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.d3vm.api.ApiClient;
import io.d3vm.kvm.Kvm;
import io.d3vm.kvm.KvmUnavailableException;
import io.d3vm.memory.Sizes;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.report.MigrationStatus;
import io.d3vm.vmm.boot.testguest.TestGuestSpec;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * {@code d3vm demo}: the whole product in one command. Boots the test guest in one d3vm process
 * ({@code run --api-socket}), starts a second one ({@code receive}) on loopback, migrates the
 * running guest live with a progress bar, shows it still running on the destination (its tick
 * counter continues, {@code verify} passes with no mismatch), prints the summary, writes the report
 * if asked, stops the guest, and exits 0 only if the guest verified on the destination. Without a
 * usable /dev/kvm it says so and migrates the synthetic guest instead. Child processes are always
 * ended (a shutdown hook covers Ctrl-C).
 */
@Command(name = "demo",
        mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        sortOptions = false,
        description = {"Boot a guest on KVM in one d3vm process and migrate it live to a second one over loopback.",
                "Exit 0 only if the guest kept running and verifying on the destination.", ""})
final class DemoCommand implements Callable<Integer> {
    private static final Pattern TICK = Pattern.compile("d3guest: tick=(\\d+) .*");
    private static final Pattern PASS = Pattern.compile("d3guest: verify pass=(\\d+) ok");

    @Spec
    CommandSpec spec;

    @Option(names = "--report", paramLabel = "FILE", description = "write the JSON migration report (the source's) here")
    Path report;

    @Option(names = "--mem", paramLabel = "SIZE", converter = CliValues.Bytes.class, description = "guest memory. Default: 1G")
    long mem = 1L << 30;

    @Option(names = "--detector", paramLabel = "NAME", converter = CliValues.DetectorName.class, description = "none, full or d3. Default: ${DEFAULT-VALUE}")
    String detector = "d3";

    @Option(names = "--workload", paramLabel = "NAME",
            description = {"the test guest's workload: verify (fill memory with a pattern, re-check it forever, rewrite hot pages),",
                    "dirty (rewrite a working set) or idle. Default: ${DEFAULT-VALUE}"})
    String workload = "verify";

    @Option(names = "--guest-options", paramLabel = "K=V,...",
            description = "extra test-guest keys (e.g. rate=2000,hot=64 for verify, wss=256,rate=20000 for dirty)")
    String guestOptions;

    @Option(names = "--max-bandwidth", paramLabel = "RATE", converter = CliValues.BytesPerSecond.class,
            description = "cap on the migration's send rate (as migrate's). Default: unlimited")
    long maxBandwidth;

    @Option(names = "--downtime-limit", paramLabel = "TIME", converter = CliValues.Millis.class, description = "Default: 300ms")
    long downtimeLimitMillis = 300;

    @Option(names = "--timeout", paramLabel = "TIME", converter = CliValues.Millis.class,
            description = "give up any one step (boot, migration, checks) after this long. Default: 5m")
    long timeoutMillis = 300_000;

    @Option(names = "--kvm-device", paramLabel = "PATH", description = "Default: ${DEFAULT-VALUE}")
    String kvmDevice = Kvm.DEFAULT_PATH;

    @Option(names = "--progress", description = "draw the progress bar in place even when stdout is not a terminal")
    boolean progress;

    private final List<ChildProcess> children = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (!List.of("verify", "dirty", "idle").contains(workload)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--workload must be verify, dirty or idle");
        }
        if (mem < TestGuestSpec.MIN_MEM) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--mem " + Sizes.format(mem)
                    + " is too little: the test guest needs at least " + Sizes.format(TestGuestSpec.MIN_MEM));
        }
        try {
            TestGuestSpec.parse(guestSpec()); // --guest-options too, before any process starts
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        String kvmProblem = kvmProblem();
        Path dir = Files.createTempDirectory("d3vm-demo-");
        Thread cleanup = Thread.ofPlatform().unstarted(() -> cleanUp(dir));
        Runtime.getRuntime().addShutdownHook(cleanup);
        try {
            if (kvmProblem != null) {
                out.println("d3vm demo: no usable KVM here (" + kvmProblem + ");");
                out.println("  demonstrating the migration engine on the synthetic guest instead (no CPU: writer threads dirty its memory).");
                out.flush();
                return syntheticDemo(dir, out, err);
            }
            return kvmDemo(dir, out, err);
        } catch (IllegalStateException e) {
            err.println("d3vm demo: " + e.getMessage());
            err.flush();
            return 1;
        } finally {
            cleanUp(dir);
            try {
                Runtime.getRuntime().removeShutdownHook(cleanup);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running already
            }
        }
    }

    private String kvmProblem() {
        try (Kvm kvm = Kvm.open(kvmDevice)) {
            return null;
        } catch (KvmUnavailableException e) {
            return e.getMessage();
        }
    }

    private Duration timeout() {
        return Duration.ofMillis(timeoutMillis);
    }

    private String guestSpec() {
        if (mem % (1L << 20) != 0) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--mem must be whole MiB (e.g. 256M, 2G)");
        }
        StringBuilder g = new StringBuilder("test:").append(workload).append(",mem=")
                .append(mem % (1L << 30) == 0 ? (mem >> 30) + "G" : (mem >> 20) + "M");
        g.append(",tick-ms=500");
        if (guestOptions != null && !guestOptions.isBlank()) {
            g.append(',').append(guestOptions.strip());
        }
        return g.toString();
    }

    private int kvmDemo(Path dir, PrintWriter out, PrintWriter err) throws Exception {
        Path a = dir.resolve("source.sock");
        Path b = dir.resolve("destination.sock");
        String guest = guestSpec();
        long t0 = System.nanoTime();
        out.printf(Locale.ROOT, "d3vm demo: booting %s in a d3vm process (run --api-socket), and a second d3vm process (receive) on loopback%n",
                guest);
        out.flush();
        ChildProcess dst = start("destination", out, List.of("receive", "--listen", "127.0.0.1:0", "--once", "--api-socket", b.toString(),
                "--kvm-device", kvmDevice));
        ChildProcess src = start("source", out, List.of("run", "--guest", guest, "--api-socket", a.toString(), "--kvm-device", kvmDevice));
        src.echo(true);
        int port = Integer.parseInt(dst.await("listening on 127\\.0\\.0\\.1:(\\d+) .*", 0, timeout()).match().group(1));
        String ready = switch (workload) {
            case "verify" -> "d3guest: verify pass=1 ok";
            case "dirty" -> "d3guest: dirty .* filled .*";
            default -> "d3guest: tick=\\d+ .*";
        };
        src.await(ready, 0, timeout());
        src.await("d3guest: tick=\\d+ .*", 0, timeout());
        awaitSocket(a, src);
        src.echo(false);
        out.printf(Locale.ROOT, "%nd3vm demo: the guest runs in process %d (up %.1f s); migrating it live to process %d at 127.0.0.1:%d"
                + " (detector %s)%n", src.pid(), (System.nanoTime() - t0) / 1e9, dst.pid(), port, detector);
        out.flush();

        ObjectNode args = ApiClient.object();
        args.put("to", "127.0.0.1:" + port);
        args.put("detector", detector);
        args.put("max-bandwidth", maxBandwidth);
        args.put("downtime-limit", downtimeLimitMillis);
        boolean terminal = progress || (System.console() != null && System.console().isTerminal());
        MigrationReport r = ApiMigration.migrate(a, args, out, err, terminal);
        if (r == null || r.status != MigrationStatus.COMPLETED) {
            out.println("d3vm demo: the migration did not complete; the guest keeps running in the source process:");
            src.echo(true);
            Thread.sleep(1500);
            return 1;
        }
        MigrationOutput.writeReport(report, r, out, err);
        Integer srcExit = src.waitFor(Duration.ofSeconds(30));
        long lastOnSource = lastTick(src.lines());

        out.printf(Locale.ROOT, "%nd3vm demo: the source process %s; the destination's console continues:%n",
                srcExit == null ? "is still running (unexpected)" : "exited " + srcExit + " (" + lastLine(src.lines(), "d3vm: the guest") + ")");
        out.flush();
        int start = dst.await("  guest test:.* is running here; its console continues below", 0, timeout()).index();
        dst.echoFrom(start + 1);
        int from = start + 1;
        ChildProcess.Found firstTick = dst.await("d3guest: tick=(\\d+) .*", start, timeout());
        long firstOnDest = Long.parseLong(firstTick.match().group(1));
        long passes = 0;
        if (workload.equals("verify")) {
            // The first pass ok may have started on the source; the second ran wholly here.
            ChildProcess.Found p1 = dst.await("d3guest: verify pass=(\\d+) ok", start, timeout());
            dst.await("d3guest: verify pass=(\\d+) ok", p1.index() + 1, timeout());
            passes = 2;
        } else {
            ChildProcess.Found t = dst.await("d3guest: tick=(\\d+) .*", Math.max(from, firstTick.index() + 1), timeout());
            dst.await("d3guest: tick=(\\d+) .*", t.index() + 1, timeout());
        }
        JsonNode status;
        awaitSocket(b, dst);
        try (ApiClient api = ApiClient.connect(b)) {
            status = api.call("query-status");
            dst.echo(false);
            api.call("quit");
        }
        Integer dstExit = dst.waitFor(Duration.ofSeconds(30));
        List<String> destLines = dst.lines().subList(start, dst.lineCount());
        long mismatches = destLines.stream().filter(l -> l.startsWith("d3guest: verify MISMATCH")).count();
        boolean rebooted = destLines.stream().anyMatch(l -> l.startsWith("d3guest: boot"));
        long lastOnDest = lastTick(destLines);
        boolean continued = firstOnDest > lastOnSource && firstOnDest <= lastOnSource + 2 && !rebooted;
        boolean verified = !workload.equals("verify") || (mismatches == 0 && status.path("console").path("verify-mismatch-lines").asLong() == 0);
        boolean ok = continued && verified && Boolean.TRUE.equals(r.digestMatch) && dstExit != null && dstExit == 0;

        long dispensable = r.dispensablePages();
        out.println();
        out.println("d3vm demo: result");
        out.printf(Locale.ROOT, "  guest            %s, %s%n", r.guest, Sizes.format(r.ramTotal));
        out.printf(Locale.ROOT, "  sent             %s of %s (%.1f %%) with detector %s; %d rounds (stop: %s)%n", Sizes.format(r.ramTransferred),
                Sizes.format(r.ramTotal), 100.0 * r.ramTransferred / r.ramTotal, r.detector, r.rounds.size(), r.stopReason);
        out.printf(Locale.ROOT, "  total time       %.2f s (setup %.0f ms)%n", r.totalTimeUs / 1e6, r.setupTimeUs / 1e3);
        out.printf(Locale.ROOT, "  downtime         %.0f ms (guest paused until GO after the destination's ACK; both digests included)%n",
                r.downtimeUs == null ? 0 : r.downtimeUs / 1e3);
        out.printf(Locale.ROOT, "  pages            normal %d, zero %d, uniform %d, unpopulated %d (%d dispensable, %.1f %%)%n", r.pagesByClass[0],
                r.pagesByClass[1], r.pagesByClass[2], r.pagesByClass[3], dispensable,
                100.0 * dispensable / Math.max(1, dispensable + r.pagesByClass[0]));
        out.printf(Locale.ROOT, "  memory digest    %s%n", Boolean.TRUE.equals(r.digestMatch) ? "matches" : "DOES NOT MATCH");
        out.printf(Locale.ROOT, "  guest clock      tick %d on the source, then %d..%d on the destination%s%n", lastOnSource, firstOnDest,
                lastOnDest, continued ? " (no restart)" : (rebooted ? " (it REBOOTED)" : " (NOT a continuation)"));
        if (workload.equals("verify")) {
            out.printf(Locale.ROOT, "  verify           %d passes ok on the destination, %d MISMATCH lines%n", passes, mismatches);
        }
        out.printf(Locale.ROOT, "  guest stopped    destination exit %s%n", dstExit == null ? "(still running)" : dstExit);
        if (report != null) {
            out.println("  report           " + report);
        }
        out.println(ok ? "d3vm demo: OK: the guest moved live and kept running" + (workload.equals("verify") ? " and verifying" : "")
                + " on the destination" : "d3vm demo: FAILED (see above)");
        if (ok) {
            verdict(r, out);
        }
        out.flush();
        return ok ? 0 : 1;
    }

    /** Three lines a newcomer keeps (bytes, time, pause), and how to put them beside QEMU's. */
    private void verdict(MigrationReport r, PrintWriter out) {
        out.println();
        out.printf(Locale.ROOT, "  sent   %s of a %s guest: the %.0f %% of pages that were zero, uniform or never used crossed as a few bytes each%n",
                Sizes.format(r.ramTransferred), Sizes.format(r.ramTotal),
                100.0 * r.dispensablePages() / Math.max(1, r.dispensablePages() + r.pagesByClass[0]));
        out.printf(Locale.ROOT, "  time   %.2f s from connecting to the destination holding the verified guest%n", r.totalTimeUs / 1e6);
        out.printf(Locale.ROOT, "  pause  %.0f ms: the guest was frozen only for the final pass, its state and the hand-over%n",
                r.downtimeUs == null ? 0 : r.downtimeUs / 1e3);
        out.println("Beside QEMU on the same guest (pause as the guest lives it, both VMMs): ./d3vm bench --reps 3 --workloads "
                + workload + " --caps uncapped --detectors d3 --mem " + (mem % (1L << 30) == 0 ? (mem >> 30) + "G" : (mem >> 20) + "M")
                + " --qemu-systems qemu7   (docs/BENCHMARKS.md has our runs)");
    }

    private int syntheticDemo(Path dir, PrintWriter out, PrintWriter err) throws Exception {
        ChildProcess dst = start("destination", out, List.of("receive", "--listen", "127.0.0.1:0", "--once"));
        dst.echo(true);
        int port = Integer.parseInt(dst.await("listening on 127\\.0\\.0\\.1:(\\d+) .*", 0, timeout()).match().group(1));
        Path rep = report != null ? report : dir.resolve("report.json");
        String guest = "synthetic:mem=" + (mem >> 20) + "M,zero=70,uniform=10,dirty-rate=5000";
        CommandLine cl = new CommandLine(new Main());
        cl.setOut(out);
        cl.setErr(err);
        int code = cl.execute("migrate", "--to", "127.0.0.1:" + port, "--guest", guest, "--detector", detector,
                "--max-bandwidth", Long.toString(maxBandwidth), "--downtime-limit", downtimeLimitMillis + "ms", "--report", rep.toString());
        Integer dstExit = dst.waitFor(timeout());
        boolean ok = code == 0 && dstExit != null && dstExit == 0 && Files.exists(rep)
                && new ObjectMapper().readTree(rep.toFile()).path("digest-match").asBoolean();
        out.println(ok ? "d3vm demo: OK (synthetic guest): the destination rebuilt its memory exactly (digest match)"
                : "d3vm demo: FAILED (see above)");
        out.flush();
        return ok ? 0 : 1;
    }

    private ChildProcess start(String name, PrintWriter out, List<String> args) throws IOException {
        ChildProcess c = ChildProcess.start(name, out, args);
        synchronized (children) {
            children.add(c);
        }
        return c;
    }

    private void awaitSocket(Path socket, ChildProcess owner) throws InterruptedException {
        long deadline = System.nanoTime() + timeout().toNanos();
        while (true) {
            try (ApiClient api = ApiClient.connect(socket)) {
                return;
            } catch (IOException e) {
                if (!owner.isAlive() || System.nanoTime() > deadline) {
                    throw new IllegalStateException("the control API did not come up at " + socket + ": " + e.getMessage()
                            + "; its last lines:\n" + owner.tail());
                }
                Thread.sleep(100);
            }
        }
    }

    private static long lastTick(List<String> lines) {
        long last = -1;
        for (String l : lines) {
            Matcher m = TICK.matcher(l);
            if (m.matches()) {
                last = Long.parseLong(m.group(1));
            }
        }
        return last;
    }

    private static String lastLine(List<String> lines, String prefix) {
        for (int i = lines.size() - 1; i >= 0; i--) {
            if (lines.get(i).startsWith(prefix)) {
                return lines.get(i).substring("d3vm: ".length());
            }
        }
        return "no word on where the guest went";
    }

    /** Ends every child process and removes the demo's temporary directory (sockets). */
    private void cleanUp(Path dir) {
        synchronized (children) {
            for (ChildProcess c : children) {
                c.stop();
            }
        }
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a temporary directory left behind
        }
    }
}
