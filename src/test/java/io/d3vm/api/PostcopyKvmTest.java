package io.d3vm.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.d3vm.testing.ApiDriver;
import io.d3vm.vmm.vstate.ConsoleCapture;
import io.d3vm.vmm.vstate.TestGuestSupport;
import io.d3vm.vmm.vstate.Vm;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.regex.Matcher;

import static io.d3vm.api.InProcessLiveMigrationTest.WAIT;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Post-copy of a KVM guest: the test guest's {@code verify} workload keeps checking every word of
 * its memory while it runs at the destination before the pages it rewrote last have arrived — its
 * vCPU faults on them inside KVM_RUN, the destination fetches them — and finds none wrong.
 */
@Tag("kvm")
class PostcopyKvmTest {
    @Test
    void shouldRunTheGuestAtTheDestinationWhileItsLastPagesArriveAndFindEveryWordRight(@TempDir Path dir) throws Exception {
        ConsoleCapture console = new ConsoleCapture();
        JsonNode report;
        try (Vm a = TestGuestSupport.load("test:verify,mem=64M,seed=5,hot=32,rate=20000,tick-ms=100", console);
             InProcessLiveMigrationTest.Destination dst = InProcessLiveMigrationTest.Destination.start();
             ApiServer api = ApiServer.start(dir.resolve("a.sock"), new VmGuest(a, null))) {
            a.start();
            console.await("d3guest: verify pass=1 ok", WAIT);
            ObjectNode args = ApiDriver.args(dst.address(), "d3");
            args.put("postcopy-after", 1);
            report = ApiDriver.migrate(api.path(), args, WAIT);
            try (Vm b = dst.guest()) {
                Matcher p = dst.console().await("d3guest: verify pass=\\d+ ok", WAIT);
                dst.console().await("d3guest: verify pass=\\d+ ok", p.end(), WAIT);
                assertThat(dst.console().text()).doesNotContain("MISMATCH").doesNotContain("FAILED");
            }
        }
        assertThat(report.path("status").asText()).as(report.toString()).isEqualTo("completed");
        assertThat(report.path("stop-reason").asText()).isEqualTo("postcopy-after");
        assertThat(report.path("digest-match").asBoolean()).isTrue();
        assertThat(report.path("audit-match").asBoolean()).isTrue();
        JsonNode pc = report.path("postcopy");
        assertThat(pc.path("pages").asLong()).as("pages rewritten during round 1 went after GO").isPositive();
        System.out.println("post-copy of test:verify: " + pc + " downtime " + report.path("downtime") + " ms");
    }
}
