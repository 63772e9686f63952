package io.d3vm.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.d3vm.memory.MemoryImage;
import io.d3vm.testing.ApiDriver;
import io.d3vm.vmm.vstate.ConsoleCapture;
import io.d3vm.vmm.vstate.TestGuestSupport;
import io.d3vm.vmm.vstate.Vm;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.regex.Matcher;

import static io.d3vm.api.InProcessLiveMigrationTest.WAIT;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Duplicate references and compression on a KVM guest: the test guest's {@code image} workload
 * runs over an 8 MiB memory image whose second quarter repeats the first (text-like, compressible
 * pages), and keeps editing, copying and clearing its pages while it migrates. The references and
 * compressed frames must rebuild exactly what the source held: both digests and the source's
 * audit agree, and the guest runs on at the destination.
 */
@Tag("kvm")
class SavingsKvmTest {
    @Test
    void shouldSendTheImagesRepeatedPagesAsReferencesAndItsTextCompressed(@TempDir Path dir) throws Exception {
        Path raw = dir.resolve("image.raw");
        byte[] image = new byte[8 << 20];
        Random r = new Random(3);
        for (int i = 0; i < (2 << 20); i++) {
            image[i] = (byte) ('a' + r.nextInt(12));
        }
        System.arraycopy(image, 0, image, 2 << 20, 2 << 20); // pages 512..1023 repeat pages 0..511
        Files.write(raw, image);
        ConsoleCapture console = new ConsoleCapture();
        JsonNode report;
        try (MemoryImage img = MemoryImage.open(raw);
             Vm a = TestGuestSupport.load("test:image,mem=64M,rate=500,tick-ms=100", console, img);
             InProcessLiveMigrationTest.Destination dst = InProcessLiveMigrationTest.Destination.start();
             ApiServer api = ApiServer.start(dir.resolve("a.sock"), new VmGuest(a, null))) {
            a.start();
            console.await("d3guest: image addr=.*", WAIT);
            ObjectNode args = ApiDriver.args(dst.address(), "d3");
            args.put("duplicates", "on");
            args.put("compress", "zstd");
            report = ApiDriver.migrate(api.path(), args, WAIT);
            try (Vm b = dst.guest()) {
                Matcher t = dst.console().await("d3guest: tick=\\d+ .*", WAIT);
                dst.console().await("d3guest: tick=\\d+ .*", t.end(), WAIT);
            }
        }
        assertThat(report.path("status").asText()).as(report.toString()).isEqualTo("completed");
        assertThat(report.path("digest-match").asBoolean()).isTrue();
        assertThat(report.path("audit-match").asBoolean()).isTrue();
        long refs = report.path("d3").path("pages").path("duplicate").asLong();
        assertThat(refs).as("the image's repeated quarter (512 pages) crossed as references").isGreaterThanOrEqualTo(400);
        JsonNode sv = report.path("savings");
        assertThat(sv.path("duplicate-pages").asLong()).isEqualTo(refs);
        assertThat(sv.path("compressed-frames").asLong()).as(sv.toString()).isPositive();
        assertThat(sv.path("bytes-after").asLong()).isLessThan(sv.path("bytes-before").asLong() * 3 / 4);
        assertThat(report.path("ram").path("transferred").asLong()).as("less than the image's 512 distinct text pages raw")
                .isLessThan(512L * 4096);
        System.out.println("savings on test:image: " + sv + ", transferred " + report.path("ram").path("transferred"));
    }
}
