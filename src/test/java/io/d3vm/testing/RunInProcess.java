package io.d3vm.testing;

import io.d3vm.cli.RunCommand;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;

/** {@code d3vm run} in this JVM, its guest's serial console and its messages captured. */
public final class RunInProcess {
    /** Everything the guest wrote to its serial port, over every {@link #run}. */
    public final ByteArrayOutputStream console = new ByteArrayOutputStream();
    /** What the command said on stderr. */
    public final StringWriter err = new StringWriter();

    /** Runs {@code d3vm run ARGS} (no console input); returns its exit code. */
    public int run(String... args) {
        CommandLine cl = new CommandLine(new RunCommand(null, console));
        cl.setErr(new PrintWriter(err, true));
        cl.setOut(new PrintWriter(new StringWriter(), true));
        return cl.execute(args);
    }
}
