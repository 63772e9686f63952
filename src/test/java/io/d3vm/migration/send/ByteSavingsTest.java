package io.d3vm.migration.send;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** What the byte savings become on a connection to this host. */
class ByteSavingsTest {
    @Test
    void shouldTurnAutoOffOnLoopbackAndKeepExplicitModes() {
        assertThat(ByteSavings.defaults().onLoopback()).isEqualTo(ByteSavings.none());
        ByteSavings forced = new ByteSavings(ByteSavings.Compress.ZSTD, ByteSavings.Duplicates.ON);
        assertThat(forced.onLoopback()).isEqualTo(forced);
        assertThat(new ByteSavings(ByteSavings.Compress.LZ4, ByteSavings.Duplicates.AUTO).onLoopback())
                .isEqualTo(new ByteSavings(ByteSavings.Compress.LZ4, ByteSavings.Duplicates.OFF));
    }
}
