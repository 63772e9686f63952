package io.d3vm.migration.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.junit.jupiter.api.Tag;

/**
 * Jazzer fuzz tests for the wire decoder and the receiver's state machine (targets in
 * {@link FuzzTargets}). Tagged {@code fuzz}: the pom runs them in their own surefire execution
 * ({@code fuzz-regression}), because Jazzer instruments every class loaded after it attaches.
 *
 * <p>Without {@code JAZZER_FUZZ} they run in regression mode: every input under
 * {@code src/test/resources/io/d3vm/migration/fuzz/WireFuzzTestInputs/<method>/} (the valid seed
 * streams, and any crash found since) once. With {@code JAZZER_FUZZ=1} Jazzer fuzzes one method,
 * coverage-guided, for {@code maxDuration}: the long run in docs/RELIABILITY.md.
 */
@Tag("fuzz")
class WireFuzzTest {

    @FuzzTest(maxDuration = "10m")
    void decoder(byte[] data) {
        FuzzTargets.decode(data);
    }

    @FuzzTest(maxDuration = "10m")
    void receiver(byte[] data) {
        FuzzTargets.receive(data);
    }
}
