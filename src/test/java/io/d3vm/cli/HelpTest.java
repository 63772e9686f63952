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
}
