package io.d3vm.cli;

import io.d3vm.sys.BootStderr;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code d3vm} command line: one subcommand per job. Each subcommand lives in its own class
 * in this package.
 */
@Command(name = "d3vm",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        description = {
                "A micro-VMM for Linux/KVM whose live migration discards dispensable data (D3).",
                "",
                "Run a guest, migrate it live to another d3vm process, receive one, or measure."
        },
        subcommands = {
                CommandLine.HelpCommand.class,
                MigrateCommand.class,
                ReceiveCommand.class,
                AnalyzeCommand.class,
                RunCommand.class,
                CertsCommand.class,
                DemoCommand.class,
                BenchCommand.class,
                // Bash and zsh completion from this very model: source <(./d3vm generate-completion)
                picocli.AutoComplete.GenerateCompletion.class,
        })
public final class Main implements java.util.concurrent.Callable<Integer> {

    public static void main(String[] args) {
        BootStderr.restore(); // first: the launcher's boot-time filter of stderr (see there)
        System.exit(run(args));
    }

    /** Runs the CLI and returns its exit code (tests call this instead of {@link #main}). */
    public static int run(String... args) {
        return commandLine().execute(args);
    }

    /**
     * The CLI with its error manners: a failure is one {@code d3vm: ...} line (exit 1); a bad
     * option or value is one line naming it plus a hint where the usage is (exit 2), as git and
     * cargo do — the usage itself only on {@code --help}.
     */
    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, cmd, parseResult) -> {
            cmd.getErr().println("d3vm: " + ex.getMessage());
            if (System.getenv("D3VM_DEBUG") != null) {
                ex.printStackTrace(cmd.getErr());
            }
            return ExitCode.FAILED;
        });
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine cmd = ex.getCommandLine();
            java.io.PrintWriter err = cmd.getErr();
            err.println("d3vm: " + ex.getMessage());
            CommandLine.UnmatchedArgumentException.printSuggestions(ex, err);
            err.println("see '" + cmd.getCommandSpec().qualifiedName() + " --help'");
            err.flush();
            return ExitCode.USAGE;
        });
        return cl;
    }

    /** {@code d3vm} without a command: the usage, on stderr, as a bad invocation (exit 2). */
    @Override
    public Integer call() {
        new CommandLine(this).usage(System.err);
        return ExitCode.USAGE;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"d3vm 0.1.0 (Java " + Runtime.version() + ")"};
        }
    }
}
