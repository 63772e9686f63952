package io.d3vm.cli;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.assertj.core.api.Assertions.assertThat;

/** Every subcommand explains itself with --help (exit 0) and names its options. */
class HelpTest {
    @ParameterizedTest
    @ValueSource(strings = {"run", "migrate", "receive", "analyze", "certs", "demo"})
    void shouldPrintUsageForEverySubcommandWithHelp(String sub) {
        StringWriter out = new StringWriter();
        CommandLine cl = new CommandLine(new Main());
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(new StringWriter(), true));
        assertThat(cl.execute(sub, "--help")).isZero();
        assertThat(out.toString()).startsWith("Usage: d3vm " + sub).contains("-h, --help");
    }

    @org.junit.jupiter.api.Test
    void shouldListBenchAmongTheCommandsAndPointTheJarAtTheLauncher() {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        assertThat(cl.execute("--help")).isZero();
        assertThat(out.toString()).containsPattern("(?m)^\\s+bench\\s+The migration benchmark");
        assertThat(cl.execute("bench", "--reps", "1")).isEqualTo(2);
        assertThat(err.toString()).contains("./d3vm bench --reps 1");
    }

    @org.junit.jupiter.api.Test
    void shouldGenerateAShellCompletionScriptThatKnowsTheCommandsAndTheirOptions() {
        StringWriter out = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(new StringWriter(), true));
        assertThat(cl.execute("generate-completion")).isZero();
        assertThat(out.toString()).contains("complete -F _complete_d3vm").contains("function _picocli_d3vm_migrate")
                .contains("--detector").contains("--debugcon");
    }

    @org.junit.jupiter.api.Test
    void shouldAnswerABadValueWithOneLineNamingItAndAHintAndExitTwo() {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        assertThat(cl.execute("run", "--mem", "3X")).isEqualTo(2);
        assertThat(err.toString().lines()).containsExactly(
                "d3vm: Invalid value for option '--mem': '3X' is not a size (examples: 4096, 64K, 512M, 4G)",
                "see 'd3vm run --help'");
        assertThat(out.toString()).isEmpty();
    }

    @org.junit.jupiter.api.Test
    void shouldSuggestTheOptionMeantForAnUnknownOne() {
        StringWriter err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(new StringWriter(), true));
        cl.setErr(new PrintWriter(err, true));
        assertThat(cl.execute("migrate", "--to", "127.0.0.1:7000", "--guest", "synthetic:mem=1M", "--detecter", "d3")).isEqualTo(2);
        assertThat(err.toString()).startsWith("d3vm: Unknown options: '--detecter'").contains("--detector")
                .endsWith("see 'd3vm migrate --help'" + System.lineSeparator()).doesNotContain("Usage:");
    }
}
