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
}
