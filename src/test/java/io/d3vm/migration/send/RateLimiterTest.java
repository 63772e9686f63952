package io.d3vm.migration.send;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

class RateLimiterTest {
    @Test
    void shouldPaceInSmallChunksOnlyWhileLimited() {
        RateLimiter limited = new RateLimiter(125_000_000);
        assertThat(limited.unlimited()).isFalse();
        assertThat(limited.chunk()).isEqualTo(256 * 1024);
        assertThat(new RateLimiter(0).unlimited()).isTrue();
        limited.lift();
        assertThat(limited.unlimited()).isTrue();
        assertThat(limited.chunk()).isEqualTo(Integer.MAX_VALUE);
    }

    /** At 1 byte/s a gigabyte's debt would take 30 years; lifted (the pause), it costs nothing. */
    @Test
    void shouldNotMakeThePauseWaitForTheLiveRoundsCap() {
        RateLimiter r = new RateLimiter(1);
        r.lift();
        assertTimeoutPreemptively(Duration.ofSeconds(30), () -> r.acquire(1L << 30));
    }
}
