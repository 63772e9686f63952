package io.d3vm.migration.send;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class BandwidthTest {
    @ParameterizedTest
    @CsvSource({
            "1G, 1073741824", "1GiB, 1073741824", "1GB/s, 1073741824", "500M, 524288000", "64K, 65536", "4096, 4096",
            "100Mbit, 12500000", "1Gbit/s, 125000000", "800kbit, 100000", "100Mbps, 12500000", "0, 0", "unlimited, 0"})
    void shouldParseBytesBinaryAndBitsDecimal(String text, long bytesPerSecond) {
        assertThat(Bandwidth.parse(text)).isEqualTo(bytesPerSecond);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "fast", "1X", "-5M", "1.5.2G", "0.1"})
    void shouldRejectNonsenseWithAHint(String text) {
        assertThatThrownBy(() -> Bandwidth.parse(text)).isInstanceOf(IllegalArgumentException.class);
    }
}
