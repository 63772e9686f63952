package io.d3vm.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Unmatched;

import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code d3vm bench}, the migration benchmark. It is a script, not Java: {@code
 * scripts/bench-migration.sh} drives this launcher, QEMU and {@code tc}, so the launcher
 * {@code ./d3vm} runs it before a JVM starts. This command is here so that {@code d3vm --help}
 * lists it, and so that the jar run without the launcher says where the benchmark is.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = {"The migration benchmark: d3vm's detectors against each other and against QEMU, on the same guest, "
                + "with the pause the guest lives through measured the same way for both (docs/CLI.md, docs/BENCHMARKS.md).",
                "It runs through the launcher: ./d3vm bench --help"})
final class BenchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Unmatched
    List<String> args = new java.util.ArrayList<>();

    @Override
    public Integer call() {
        spec.commandLine().getErr().println("d3vm: the benchmark is scripts/bench-migration.sh, which the launcher runs: ./d3vm bench"
                + (args.isEmpty() ? "" : " " + String.join(" ", args)));
        return 2;
    }
}
