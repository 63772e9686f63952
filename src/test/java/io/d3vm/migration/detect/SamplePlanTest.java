package io.d3vm.migration.detect;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

class SamplePlanTest {

    @ParameterizedTest
    @ValueSource(ints = {1, 4, 8, 16, 64})
    void shouldNeverProbeTheFirstLineOrTheCacheLineGrid(int k) {
        for (int round = 1; round <= 200; round++) {
            int[] offs = SamplePlan.offsets(k, round);
            assertThat(offs).hasSize(k);
            for (int o : offs) {
                assertThat(o).isBetween(64, 4096 - 8);
                assertThat(o % 8).as("word aligned").isZero();
                assertThat(o % 64).as("off the 64-byte grid").isNotZero();
            }
            assertThat(Arrays.stream(offs).distinct().count()).isEqualTo(k);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 4, 8, 16})
    void shouldSpreadSamplesOverThePageAndVaryThemPerRound(int k) {
        Set<String> plans = new HashSet<>();
        for (int round = 1; round <= 20; round++) {
            int[] offs = SamplePlan.offsets(k, round);
            // one sample per stratum of [64, 4096)
            for (int s = 0; s < k; s++) {
                int lo = 64 + (int) ((long) s * 504 / k) * 8;
                int hi = 64 + (int) ((long) (s + 1) * 504 / k) * 8;
                assertThat(offs[s]).isBetween(lo, hi - 8);
            }
            plans.add(Arrays.toString(offs));
        }
        assertThat(plans).as("distinct plans over 20 rounds").hasSizeGreaterThan(15);
    }
}
