package io.d3vm.migration.send;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** When {@code --duplicates auto} hashes pages: what references save on the link against what hashing costs. */
class HashingPaysTest {
    private static final double GBIT = 125e6;
    private static final double HUNDRED_MBIT = 12.5e6;

    @Test
    void shouldHashUntilTheHitRateTheCostAndTheLinkAreMeasured() {
        assertThat(MigrationSender.hashingPays(Double.NaN, 4000, GBIT, 0.3)).isTrue();
        assertThat(MigrationSender.hashingPays(0.11, Double.NaN, GBIT, 0.3)).isTrue();
        assertThat(MigrationSender.hashingPays(0.11, 4000, Double.NaN, Double.NaN)).isTrue();
        assertThat(MigrationSender.hashingPays(0.0, 4000, GBIT, Double.NaN)).as("who waits not judged yet").isTrue();
    }

    @Test
    void shouldStopWhereFewPagesRepeatOnAFastLinkAndKeepOnWhereManyDo() {
        // The dirty Debian image at 1 Gbit/s: 1.7 % hits save ~0.6 µs of link per page hashed, hashing costs 4.
        assertThat(MigrationSender.hashingPays(0.017, 4000, GBIT, 0.3)).isFalse();
        // The busy one: 55 % hits save ~18 µs.
        assertThat(MigrationSender.hashingPays(0.55, 3500, GBIT, 0.3)).isTrue();
        // The dirty one at 100 Mbit/s: ten times the link time saved per hit.
        assertThat(MigrationSender.hashingPays(0.017, 4000, HUNDRED_MBIT, 0.3)).isTrue();
    }

    @Test
    void shouldHashWhileTheWriterWaitsForTheLinkWhateverTheModelSays() {
        assertThat(MigrationSender.hashingPays(0.01, 10_000, GBIT, PageCompressor.LINK_BOUND_SHARE)).isTrue();
        assertThat(MigrationSender.hashingPays(0.01, 10_000, GBIT, 0.49)).isFalse();
    }
}
