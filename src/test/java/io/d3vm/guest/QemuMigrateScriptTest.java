package io.d3vm.guest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Runs scripts/qemu-migrate.sh end to end: the test guest's {@code verify} workload migrates between
 * two QEMU processes, and a full verification pass on the destination must find every word intact.
 * Skipped, with the reason printed, when QEMU or python3 is missing.
 */
@Tag("qemu")
class QemuMigrateScriptTest {

    @TempDir
    Path dir;

    @Test
    void shouldKeepVerifyingWithoutMismatchAfterQemuLiveMigration() throws Exception {
        Optional<String> why = QemuGuest.unavailableReason();
        if (why.isEmpty() && !onPath("python3")) {
            why = Optional.of("python3 is not installed");
        }
        why.ifPresent(r -> System.out.println("QemuMigrateScriptTest skipped: " + r));
        Assumptions.assumeTrue(why.isEmpty(), () -> "skipped");

        Path project = Path.of(System.getProperty("d3vm.projectDir", "."));
        Path out = dir.resolve("query-migrate.json");
        Path elf = dir.resolve("d3guest.elf");
        Files.write(elf, BuiltGuestBinaryTest.guestElf());
        String accel = QemuGuest.kvmUsable() ? "kvm" : "tcg";
        ProcessBuilder pb = new ProcessBuilder(project.resolve("scripts/qemu-migrate.sh").toString(),
                "--accel", accel, "--mem", "128", "--warmup", "0.5", "--after", "1",
                "--out", out.toString(), "--log-dir", dir.resolve("logs").toString(),
                "--", "verify", "seed=11", "hot=8", "rate=5000")
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("script.log").toFile());
        pb.environment().put("D3GUEST_ELF", elf.toString());
        Process p = pb.start();
        if (!p.waitFor(240, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
        }
        String log = Files.readString(dir.resolve("script.log"));
        assertThat(p.exitValue()).as("qemu-migrate.sh output:%n%s", log).isZero();

        JsonNode q = new ObjectMapper().readTree(out.toFile());
        assertThat(q.path("status").asText()).isEqualTo("completed");
        assertThat(q.path("ram").path("transferred").asLong()).isPositive();
        assertThat(q.path("ram").path("total").asLong()).isGreaterThanOrEqualTo(128L << 20);
        assertThat(q.path("downtime").asLong()).isNotNegative();
        JsonNode x = q.path("x-d3vm");
        assertThat(x.path("guest-continued").asBoolean()).as(log).isTrue();
        assertThat(x.path("destination-first-tick").asLong()).isGreaterThan(x.path("source-last-tick").asLong());
        assertThat(x.path("destination-verify-pass").asText()).matches("d3guest: verify pass=\\d+ ok");
        assertThat(x.path("guest-errors")).isEmpty();
    }

    static boolean onPath(String exe) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin").split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(d, exe))) {
                return true;
            }
        }
        return false;
    }
}
