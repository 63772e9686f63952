package io.d3vm.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The real {@code ./d3vm} launcher on the jar Maven's package phase just built (failsafe runs this
 * after package; {@code D3VM_NO_BUILD=1} keeps the launcher from building again): what a user sees
 * in a terminal, both streams and the exit code.
 */
class LauncherIT {
    static final Path PROJECT = Path.of(System.getProperty("d3vm.projectDir", ".")).toAbsolutePath();

    /** One launcher run: exit code, standard output, standard error. */
    record Run(int code, String out, String err) {
        List<String> errLines() {
            return err.lines().toList();
        }
    }

    static Run launch(Map<String, String> env, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(PROJECT.resolve("d3vm").toString());
        cmd.addAll(List.of(args));
        Path out = Files.createTempFile("launcher", ".out");
        Path err = Files.createTempFile("launcher", ".err");
        try {
            ProcessBuilder pb = new ProcessBuilder(cmd).directory(PROJECT.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .redirectOutput(out.toFile()).redirectError(err.toFile());
            pb.environment().put("D3VM_NO_BUILD", "1");
            pb.environment().putAll(env);
            Process p = pb.start();
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("%s finished within 60 s", cmd).isTrue();
            // The boot-time stderr filter exits when main takes stderr back (or the JVM exits):
            // wait for the whole error stream, not only for the JVM.
            p.onExit().join();
            return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    static Run launch(String... args) throws IOException, InterruptedException {
        return launch(Map.of(), args);
    }

    @ParameterizedTest
    @ValueSource(strings = {"--help", "--version", "migrate --help", "receive --help", "run --help"})
    void shouldPrintNoJvmWarningOnAnyCommand(String args) throws Exception {
        Run r = launch(args.split(" "));
        assertThat(r.code()).isZero();
        assertThat(r.err()).doesNotContain("WARNING");
        assertThat(r.out()).doesNotContain("WARNING").isNotBlank();
        assertThat(r.out().lines().findFirst().orElseThrow()).matches("Usage: d3vm.*|d3vm \\d.*");
    }

    @Test
    void shouldAnswerABadValueInTwoLinesAndExitTwo() throws Exception {
        Run r = launch("run", "--mem", "3X");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.errLines()).containsExactly(
                "d3vm: Invalid value for option '--mem': '3X' is not a size (examples: 4096, 64K, 512M, 4G)",
                "see 'd3vm run --help'");
        assertThat(r.out()).isEmpty();
    }

    @Test
    void shouldStillShowWhatTheJvmSaysBeforeMain() throws Exception {
        // The filter drops one line only: a JVM that cannot start still says why.
        Run r = launch(Map.of("D3VM_JAVA_OPTS", "-Xmx1q"), "--version");
        assertThat(r.code()).isNotZero();
        assertThat(r.err()).contains("Invalid maximum heap size: -Xmx1q").doesNotContain("WARNING");
    }

    /** Bad arguments and bad input files: one line naming the problem, one hint, exit 2, nothing started. */
    @ParameterizedTest
    @ValueSource(strings = {
            "migrate --to 127.0.0.1:9 --guest synthetic:mem=64M --detector foo|unknown detector 'foo'",
            "migrate --to 127.0.0.1:9 --guest synthetic:mem=3X|mem='3X' is not a size (examples: 4096, 64K, 512M, 4G)",
            "migrate --to 127.0.0.1:9 --guest synthetic:mem=64M --tls-dir /nope|--tls-dir /nope is not a directory",
            "migrate --to 127.0.0.1:9 --guest synthetic:mem=64M --downtime-limit 5|'5' has no unit: write 5ms or 5s",
            "migrate --to 127.0.0.1:9 --guest synthetic:mem=64M --postcopy-after 0|--postcopy-after must be 1..30",
            "migrate --to 127.0.0.1:9 --guest synthetic:mem=64M --postcopy --verify strict|post-copy cannot be combined with --verify strict",
            "demo --mem 0|--mem 0 B is too little",
            "demo --mem 16M|--mem 16 MiB is too little",
            "analyze /missing|/missing: no such file",
            "run --guest test:idle,mem=64M --mem 128M|disagree",
            "run --guest test:idle --serial-log /nonexistent/dir/x.log|(no such file or directory)",
            "certs --out /proc/d3vm-test|--out /proc/d3vm-test: cannot write",
            "receive --listen 127.0.0.1:0 --kvm-device /dev/nope|--kvm-device /dev/nope: /dev/nope does not exist",
    })
    void shouldExitTwoWithOneLineAndAHintForBadInput(String caseText) throws Exception {
        String[] parts = caseText.split("\\|");
        Run r = launch(parts[0].split(" "));
        assertThat(r.code()).as(parts[0]).isEqualTo(2);
        assertThat(r.errLines()).as(parts[0]).hasSize(2);
        assertThat(r.errLines().get(0)).startsWith("d3vm: ").contains(parts[1]);
        assertThat(r.errLines().get(1)).matches("see 'd3vm \\w+ --help'");
        assertThat(r.out()).isEmpty();
    }

    @Test
    void shouldAnswerNoCommandWithTheUsageOnStderrAndExitTwo() throws Exception {
        Run r = launch();
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.out()).isEmpty();
        assertThat(r.err()).startsWith("Usage: d3vm").contains("migrate").contains("receive");
    }

    /** A port nothing listens on: bound, then released. */
    static int closedPort() throws IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Test
    void shouldReportAFailedMigrationOnceWithoutASummaryOfZerosAndExitOne() throws Exception {
        Run r = launch("migrate", "--to", "127.0.0.1:" + closedPort(), "--guest", "synthetic:mem=64M");
        assertThat(r.code()).isEqualTo(1);
        // The spec echoed human-readably, then the verdict; no "sent 0 B of ...", no second copy of the error.
        assertThat(r.out().lines().toList()).hasSize(2);
        assertThat(r.out()).contains("guest synthetic:mem=64M,").contains(",wss=64M,").contains("migration FAILED after")
                .doesNotContain("0 B").doesNotContain("Mbit/s").doesNotContain("connection refused");
        assertThat(r.errLines()).hasSize(1);
        assertThat(r.errLines().get(0)).startsWith("d3vm: cannot connect to").contains("connection refused")
                .contains("ends with this command").doesNotContain("keeps running here");
    }

    @Test
    void shouldWriteTheReportToStdoutForDashAndTheRestToStderr() throws Exception {
        Run r = launch("migrate", "--to", "127.0.0.1:" + closedPort(), "--guest", "synthetic:mem=64M", "--report", "-");
        assertThat(r.code()).isEqualTo(1);
        var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.out()); // stdout is the JSON, all of it
        assertThat(json.path("status").asText()).isEqualTo("failed");
        assertThat(json.path("error").asText()).contains("ends with this command").doesNotContain("keeps running here");
        assertThat(r.err()).contains("migration FAILED after").contains("d3vm: cannot connect to");
        assertThat(PROJECT.resolve("-")).doesNotExist();
    }

    @Test
    void shouldPrintTheListenAddressAsTypedSoItCanBePastedIntoTo() throws Exception {
        ProcessBuilder pb = new ProcessBuilder(PROJECT.resolve("d3vm").toString(), "receive", "--listen", "0.0.0.0:0")
                .directory(PROJECT.toFile()).redirectErrorStream(true);
        pb.environment().put("D3VM_NO_BUILD", "1");
        Process p = pb.start();
        try (var lines = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = lines.readLine()) != null && !line.startsWith("listening on ")) {
                // start-up lines (none expected)
            }
            assertThat(line).matches("listening on 0\\.0\\.0\\.0:\\d+ for migrations .*");
        } finally {
            p.destroy();
            p.waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void shouldExitZeroWhenTheTestGuestPowersOffTakingMemFromTheOption() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isReadable(Path.of("/dev/kvm")) && Files.isWritable(Path.of("/dev/kvm")),
                "no usable /dev/kvm here");
        Run r = launch("run", "--guest", "test:poweroff", "--mem", "64M");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("d3guest: boot workload=poweroff mem=64 ");
    }

    /** A launcher process whose output (both streams, merged) is collected line by line as it comes. */
    static final class Running implements AutoCloseable {
        final Process process;
        private final List<String> lines = java.util.Collections.synchronizedList(new ArrayList<>());

        Running(String... args) throws IOException {
            List<String> cmd = new ArrayList<>();
            // SIGINT back to its default: a test run started in the background (`cmd &` in a
            // script) has it ignored, children inherit that, and the JVM keeps an ignored SIGINT
            // ignored, as a background job should. env execs, so the pid signalled is d3vm's.
            cmd.addAll(List.of("env", "--default-signal=INT"));
            cmd.add(PROJECT.resolve("d3vm").toString());
            cmd.addAll(List.of(args));
            ProcessBuilder pb = new ProcessBuilder(cmd).directory(PROJECT.toFile()).redirectErrorStream(true);
            pb.environment().put("D3VM_NO_BUILD", "1");
            process = pb.start();
            Thread.ofPlatform().daemon().start(() -> {
                try (var r = new java.io.BufferedReader(new java.io.InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String l; (l = r.readLine()) != null; ) {
                        synchronized (lines) {
                            lines.add(l);
                            lines.notifyAll();
                        }
                    }
                } catch (IOException ended) {
                    // the process is gone
                }
            });
        }

        /** The first line matching {@code regex}, waiting for it up to 60 s. */
        java.util.regex.Matcher await(String regex) throws InterruptedException {
            java.util.regex.Pattern p = java.util.regex.Pattern.compile(regex);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            synchronized (lines) {
                for (long left; (left = deadline - System.nanoTime()) > 0; lines.wait(Math.max(1, left / 1_000_000))) {
                    for (String l : lines) {
                        java.util.regex.Matcher m = p.matcher(l);
                        if (m.matches()) {
                            return m;
                        }
                    }
                }
            }
            throw new AssertionError("no line /" + regex + "/ within 60 s; output:\n" + String.join("\n", lines));
        }

        String text() {
            synchronized (lines) {
                return String.join("\n", lines);
            }
        }

        void signal(String name) throws Exception {
            assertThat(new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).start().waitFor()).isZero();
        }

        int awaitExit() throws InterruptedException {
            assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("exited within 60 s:\n%s", text()).isTrue();
            return process.exitValue();
        }

        @Override
        public void close() throws InterruptedException {
            process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void shouldCancelCleanlyOnCtrlCAndTellTheDestinationWhichSaysSoAndStopsOnSigterm() throws Exception {
        try (Running dst = new Running("receive", "--listen", "127.0.0.1:0");
             Running src = new Running("migrate", "--to", "127.0.0.1:" + dst.await("listening on 127\\.0\\.0\\.1:(\\d+) .*").group(1),
                     "--guest", "synthetic:mem=1G,zero=0,uniform=0", "--max-bandwidth", "20M")) {
            src.await("pre-copy +round .*");          // the progress line (every 2 s): round 1 is under way
            src.signal("INT");
            assertThat(src.awaitExit()).isEqualTo(130);                 // 128 + SIGINT, as shells expect
            assertThat(src.text()).contains("d3vm: interrupted: cancelling the migration")
                    .contains("migration CANCELLED after").contains("d3vm: migration cancelled in phase pre-copy");
            dst.await("d3vm: the source cancelled the migration in phase pre-copy; the half-received guest was discarded.*");
            assertThat(dst.text()).doesNotContain("protocol error");

            dst.signal("TERM");
            assertThat(dst.awaitExit()).isEqualTo(143);
            assertThat(dst.text()).contains("d3vm: receive stopped by a signal");
        }
    }

    @Test
    void shouldFailAMigrationThatCannotMeetTheDowntimeLimitAndNameTheWaysOut() throws Exception {
        try (Running dst = new Running("receive", "--listen", "127.0.0.1:0", "--once")) {
            String port = dst.await("listening on 127\\.0\\.0\\.1:(\\d+) .*").group(1);
            // The same migration as below without --allow-long-downtime: refused before any pause.
            Run r = launch("migrate", "--to", "127.0.0.1:" + port, "--guest", "synthetic:mem=64M,dirty-rate=20000",
                    "--max-rounds", "1", "--max-bandwidth", "100M", "--downtime-limit", "1ms");
            assertThat(r.code()).as(r.out()).isEqualTo(1);
            assertThat(r.err()).containsPattern("d3vm: pre-copy did not converge \\(max-rounds after 1 rounds, \\d+ pages still dirty\\)")
                    .contains("past --downtime-limit 1 ms").contains("--auto-converge").contains("--allow-long-downtime")
                    .contains("the guest ran on here, intact");
            assertThat(r.out()).contains("migration FAILED after");
            dst.await("d3vm: .*");
        }
    }

    @Test
    void shouldSayWhenThePauseWentPastTheLimitAndNameTheSamplerMissesForWhatTheyAre() throws Exception {
        try (Running dst = new Running("receive", "--listen", "127.0.0.1:0", "--once")) {
            String port = dst.await("listening on 127\\.0\\.0\\.1:(\\d+) .*").group(1);
            // Round 1 takes at least 0.2 s under the cap while the writers dirty 20000 pages/s, and
            // --max-rounds 1 leaves all of them to the pause: far past 1 ms, whatever the machine.
            Run r = launch("migrate", "--to", "127.0.0.1:" + port, "--guest", "synthetic:mem=64M,dirty-rate=20000",
                    "--max-rounds", "1", "--max-bandwidth", "100M", "--downtime-limit", "1ms", "--allow-long-downtime");
            assertThat(r.code()).as(r.err()).isZero();
            assertThat(r.out()).contains("migration completed in")
                    .containsPattern("the pause \\(\\d+ ms\\) went past --downtime-limit \\(1 ms\\): pre-copy stopped on max-rounds")
                    .contains("sampler misses (caught by the full check)").doesNotContain("false-dispensable");
            assertThat(dst.awaitExit()).isZero();
        }
    }

    @Test
    void shouldRefuseADowntimeLimitOfZeroAsABadArgument() throws Exception {
        Run r = launch("migrate", "--to", "127.0.0.1:9", "--guest", "synthetic:mem=64M", "--downtime-limit", "0ms");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.errLines()).hasSize(2);
        assertThat(r.errLines().get(0)).contains("downtime limit must be at least 1 ms");
    }
}
