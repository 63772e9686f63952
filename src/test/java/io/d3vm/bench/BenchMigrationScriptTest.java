package io.d3vm.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Runs scripts/bench_migration.py (the migration benchmark behind scripts/bench-migration.sh) in its
 * --quick form on a tiny synthetic guest, with d3vm started from this test's class path, and checks
 * that the JSON, the Markdown table and the charts it claims are there and say what the runs did.
 */
class BenchMigrationScriptTest {

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void shouldWriteRunsMediansTableAndChartsForAQuickSyntheticSeries(@TempDir Path out) throws Exception {
        Path project = project();
        Path python = python();
        String d3vm = String.join(" ", List.of(
                "'" + Path.of(System.getProperty("java.home"), "bin", "java") + "'",
                "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector",
                "-cp", "'" + System.getProperty("java.class.path") + "'", "io.d3vm.cli.Main"));
        List<String> cmd = new ArrayList<>(List.of(python.toString(), project.resolve("scripts/bench_migration.py").toString(),
                "--quick", "--caps", "uncapped", "--detectors", "none,d3", "--synthetic-mem", "32M",
                "--out", out.toString(), "--d3vm", d3vm, "--run-timeout", "120"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.resolve("bench.log").toFile()).start();
        boolean done = p.waitFor(4, TimeUnit.MINUTES);
        if (!done) {
            p.destroyForcibly();
        }
        String log = Files.readString(out.resolve("bench.log"));
        assertThat(done).as("bench finished; log:\n%s", log).isTrue();
        assertThat(p.exitValue()).as("exit code; log:\n%s", log).isZero();

        JsonNode root = new ObjectMapper().readTree(out.resolve("runs.json").toFile());
        assertThat(root.path("runs")).hasSize(2);
        for (JsonNode r : root.path("runs")) {
            assertThat(r.path("status").asText()).isEqualTo("completed");
            assertThat(r.path("digest-match").asBoolean()).isTrue();
            assertThat(r.path("rounds").size()).isPositive();
        }
        JsonNode none = median(root, "d3vm-none");
        JsonNode d3 = median(root, "d3vm-d3");
        assertThat(none.path("bytes-vs-none").asDouble()).isEqualTo(1.0);
        // 70 % of the synthetic guest's pages are zero and 10 % uniform: d3 must send far less than none.
        assertThat(d3.path("ram.transferred").asLong()).isLessThan(none.path("ram.transferred").asLong() / 2);
        assertThat(d3.path("bytes-vs-none").asDouble()).isBetween(0.0, 0.5);

        String md = Files.readString(out.resolve("results.md"));
        assertThat(md).contains("| workload | cap | system |").contains("| synthetic | uncapped | d3vm-d3 | 1/1 |");
        for (JsonNode chart : root.path("meta").path("charts")) {
            byte[] png = Files.readAllBytes(out.resolve(chart.asText()));
            assertThat(png).as(chart.asText()).startsWith((byte) 0x89, (byte) 'P', (byte) 'N', (byte) 'G');
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void shouldCountAnIncompleteReportAsAFailedRunLeftOutOfTheMedians(@TempDir Path out) throws Exception {
        Path project = project();
        Path python = python();
        // Three QEMU runs of one configuration; the third "completed" with total-time 0, as QEMU 7.2 sometimes answers.
        String runs = """
                [{"status": "completed", "total-time": 30, "downtime": 1, "observed-downtime": 3.0, "ram": {"transferred": 2500000},
                  "x-bench": {"workload": "idle", "cap": "uncapped", "system": "qemu7"}},
                 {"status": "completed", "total-time": 40, "downtime": 2, "observed-downtime": 5.0, "ram": {"transferred": 2500000},
                  "x-bench": {"workload": "idle", "cap": "uncapped", "system": "qemu7"}},
                 {"status": "completed", "total-time": 0, "downtime": 0, "observed-downtime": 90.0, "ram": {"transferred": 2500000},
                  "x-bench": {"workload": "idle", "cap": "uncapped", "system": "qemu7"}}]
                """;
        Files.writeString(out.resolve("runs.partial.json"), runs);
        Process p = new ProcessBuilder(python.toString(), project.resolve("scripts/bench_migration.py").toString(),
                "--from-json", out.resolve("runs.partial.json").toString(), "--out", out.resolve("summary").toString())
                .redirectErrorStream(true).redirectOutput(out.resolve("log").toFile()).start();
        assertThat(p.waitFor(90, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(Files.readString(out.resolve("log"))).isZero();
        JsonNode m = median(new ObjectMapper().readTree(out.resolve("summary/runs.json").toFile()), "qemu7");
        assertThat(m.path("runs").asInt()).isEqualTo(3);
        assertThat(m.path("completed").asInt()).isEqualTo(2);
        assertThat(m.path("total-time").asDouble()).isEqualTo(35.0);
        assertThat(m.path("observed-downtime").asDouble()).isEqualTo(4.0);
        assertThat(Files.readString(out.resolve("summary/results.md"))).contains("| idle | uncapped | qemu7 | 2/3 |");
    }

    @Test
    @Timeout(value = 1, unit = TimeUnit.MINUTES)
    void shouldNameTheQemuSystemAMigrationModeRunsOn() throws Exception {
        Process p = new ProcessBuilder(python().toString(), "-c",
                "import sys; sys.path.insert(0, sys.argv[1]); import bench_migration as b;"
                        + " print(','.join(b.qemu_base(n) for n in ['qemu7', 'qemu7-ac', 'qemu10-zstd', 'qemu10-legacy-pc', 'qemu10-none']))",
                project().resolve("scripts").toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes()).trim();
        assertThat(p.waitFor()).as(out).isZero();
        assertThat(out).isEqualTo("qemu7,qemu7,qemu10-zstd,qemu10-legacy,qemu10-none");
    }

    private static Path project() {
        return Path.of(System.getProperty("d3vm.projectDir", "."));
    }

    /** Debian's python3, or the test is skipped saying why. */
    private static Path python() {
        Path python = Path.of("/usr/bin/python3");
        Assumptions.assumeTrue(Files.isExecutable(python), "skipped: /usr/bin/python3 is not installed (the benchmark driver is a Python script)");
        return python;
    }

    private static JsonNode median(JsonNode root, String system) {
        for (JsonNode m : root.path("medians")) {
            if (m.path("system").asText().equals(system)) {
                return m;
            }
        }
        throw new AssertionError("no median for " + system + " in " + root.path("medians"));
    }
}
