package io.d3vm.vmm.boot.linux;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Debian's kernel and d3vm's initramfs for the tests that load or boot them, under build/linux.
 * A missing file is fetched with the project's own scripts (cached: they do nothing when their
 * outputs exist), so a plain {@code mvn verify} tests the real kernel too instead of skipping;
 * the test is aborted, with the reason printed, only when the scripts cannot run (no root, no
 * Debian package repositories).
 */
final class DebianLinux {
    private DebianLinux() {}

    static Path project() {
        return Path.of(System.getProperty("d3vm.projectDir", "."));
    }

    /** build/linux/{@code name} (vmlinuz, vmlinux, initramfs.cpio.gz), fetched or built when missing. */
    static synchronized Path require(String name) throws IOException, InterruptedException {
        Path file = project().resolve("build/linux").resolve(name);
        if (Files.isRegularFile(file)) {
            return file;
        }
        String script = name.startsWith("initramfs") ? "scripts/make-initramfs.sh" : "scripts/fetch-linux.sh";
        Process p = new ProcessBuilder("bash", project().resolve(script).toString()).inheritIO().start();
        if (p.waitFor() != 0 || !Files.isRegularFile(file)) {
            String reason = script + " could not provide " + file + " (it needs root and Debian's package repositories)";
            System.out.println("SKIPPED: " + reason);
            Assumptions.abort(reason);
        }
        return file;
    }
}
