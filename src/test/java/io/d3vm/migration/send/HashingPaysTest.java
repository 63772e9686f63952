package io.d3vm.migration.send;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** When {@code --duplicates auto} hashes pages: what references save on the link against what hashing costs. */
class HashingPaysTest {
    private static final double GBIT = 125e6;
    private static final double HUNDRED_MBIT = 12.5e6;

    @Test
    void shouldHashUntilTheHitRateTheCostAndTheLinkAreMeasured() {
        assertThat(MigrationSender.hashingPays(Double.NaN, 4000, GBIT, 0.3, 0.35)).isTrue();
        assertThat(MigrationSender.hashingPays(0.11, Double.NaN, GBIT, 0.3, 0.35)).isTrue();
        assertThat(MigrationSender.hashingPays(0.11, 4000, Double.NaN, Double.NaN, 1.0)).isTrue();
    }

    @Test
    void shouldStopWhereFewPagesRepeatOnAFastLinkAndKeepOnWhereManyDo() {
        // The idle Debian image at 1 Gbit/s: 11 % hits save ~1.3 µs of link per page hashed, hashing costs 4.
        assertThat(MigrationSender.hashingPays(0.11, 4000, GBIT, 0.3, 0.35)).isFalse();
        // The busy one: 55 % hits save ~5.4 µs.
        assertThat(MigrationSender.hashingPays(0.55, 3500, GBIT, 0.3, 0.30)).isTrue();
        // The idle one at 100 Mbit/s: ten times the link time saved per hit.
        assertThat(MigrationSender.hashingPays(0.11, 4000, HUNDRED_MBIT, 0.3, 0.35)).isTrue();
        // Sent raw, a hit saves a whole page.
        assertThat(MigrationSender.hashingPays(0.11, 3000, GBIT, Double.NaN, 1.0)).isTrue();
    }

    @Test
    void shouldHashWhileTheWriterWaitsForTheLinkWhateverTheModelSays() {
        assertThat(MigrationSender.hashingPays(0.01, 10_000, GBIT, PageCompressor.LINK_BOUND_SHARE, 0.35)).isTrue();
        assertThat(MigrationSender.hashingPays(0.01, 10_000, GBIT, 0.49, 0.35)).isFalse();
    }
}
