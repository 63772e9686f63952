package io.d3vm.migration.detect;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class DetectorsTest {

    @Test
    void shouldBuildEveryNamedDetector() {
        for (String name : Detectors.NAMES) {
            PageClassifier c = Detectors.create(name, 4);
            assertThat(c.name()).isEqualTo(name);
            assertThat(c.stats().totalPages()).isZero();
        }
        assertThat(Detectors.NAMES).containsExactly("none", "full", "d3");
    }

    @Test
    void shouldWarmUpEveryDetectorOnScratchMemoryOfEveryClass() {
        for (String name : Detectors.NAMES) {
            long pages = Detectors.warmUp(name, 8);
            // Bounded by passes and by time, but never nothing: at least one full pass.
            assertThat(pages).as(name).isBetween((long) Detectors.WARM_UP_PAGES,
                    (long) Detectors.WARM_UP_PAGES * Detectors.WARM_UP_PASSES);
        }
        assertThatThrownBy(() -> Detectors.warmUp("magic", 8)).hasMessageContaining("unknown detector");
    }

    @Test
    void shouldDefaultToEightSamples() {
        assertThat(((D3Classifier) Detectors.create("d3")).samples()).isEqualTo(8);
    }

    @Test
    void shouldRejectUnknownNameListingTheValidOnes() {
        assertThatThrownBy(() -> Detectors.create("qemu", 8))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("qemu").hasMessageContaining("none, full, d3");
        assertThatThrownBy(() -> Detectors.create(null, 8))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("none, full, d3");
    }

    @Test
    void shouldRejectSampleCountsOutOfRange() {
        assertThatThrownBy(() -> Detectors.create("d3", -1)).hasMessageContaining("0..64");
        assertThatThrownBy(() -> Detectors.create("d3", 65)).hasMessageContaining("0..64");
    }
}
