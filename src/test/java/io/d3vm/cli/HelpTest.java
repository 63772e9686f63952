package io.d3vm.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.assertj.core.api.Assertions.assertThat;

/** Every subcommand explains itself with --help (exit 0); bad arguments get one line and a hint (exit 2). */
class HelpTest {
    /** What the CLI (with main's error handlers) printed and returned. */
    record Cli(int code, String out, String err) {}

    static Cli cli(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Cli(code, out.toString(), err.toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"run", "migrate", "receive", "analyze", "certs", "demo", "bench"})
    void shouldPrintUsageForEverySubcommandWithHelp(String sub) {
        Cli c = cli(sub, "--help");
        assertThat(c.code()).isZero();
        assertThat(c.out()).startsWith("Usage: d3vm " + sub).contains("-h, --help");
    }

    @Test
    void shouldListBenchAmongTheCommandsAndPointTheJarAtTheLauncher() {
        assertThat(cli("--help").out()).containsPattern("(?m)^\\s+bench\\s+The migration benchmark");
        Cli c = cli("bench", "--reps", "1");
        assertThat(c.code()).isEqualTo(2);
        assertThat(c.err()).contains("./d3vm bench --reps 1");
    }

    @Test
    void shouldGenerateAShellCompletionScriptThatKnowsTheCommandsAndTheirOptions() {
        Cli c = cli("generate-completion");
        assertThat(c.code()).isZero();
        assertThat(c.out()).contains("complete -F _complete_d3vm").contains("function _picocli_d3vm_migrate")
                .contains("--detector").contains("--debugcon");
    }

    @Test
    void shouldAnswerABadValueWithOneLineNamingItAndAHintAndExitTwo() {
        Cli c = cli("run", "--mem", "3X");
        assertThat(c.code()).isEqualTo(2);
        assertThat(c.err().lines()).containsExactly(
                "d3vm: Invalid value for option '--mem': '3X' is not a size (examples: 4096, 64K, 512M, 4G)",
                "see 'd3vm run --help'");
        assertThat(c.out()).isEmpty();
    }

    @Test
    void shouldSuggestTheOptionMeantForAnUnknownOne() {
        Cli c = cli("migrate", "--to", "127.0.0.1:7000", "--guest", "synthetic:mem=1M", "--detecter", "d3");
        assertThat(c.code()).isEqualTo(2);
        assertThat(c.err()).startsWith("d3vm: Unknown options: '--detecter'").contains("--detector")
                .endsWith("see 'd3vm migrate --help'" + System.lineSeparator()).doesNotContain("Usage:");
    }
}
