package io.d3vm.migration.send;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class ConvergencePolicyTest {
    private final ConvergencePolicy policy = new ConvergencePolicy();
    private static final long MS = 1_000_000L;

    /** A round that sent as many pages as it left dirty: it did not halve the dirty set. */
    private static PrecopyContext ctx(int round, long dirty, double bytesPerPage, double bw, int noProgress) {
        return ctx(round, dirty, dirty, bytesPerPage, bw, noProgress);
    }

    private static PrecopyContext ctx(int round, long sent, long dirty, double bytesPerPage, double bw, int noProgress) {
        return new PrecopyContext(round, sent, dirty, bytesPerPage, bw, 300 * MS, 30, noProgress, false, 0, 0);
    }

    /** Under auto-converge, throttled at {@code throttle} %. */
    private static PrecopyContext auto(int round, int noProgress, int throttle) {
        return auto(round, noProgress, throttle, 0);
    }

    private static PrecopyContext auto(int round, int noProgress, int throttle, int dirtyingFast) {
        return new PrecopyContext(round, 100_000, 100_000, 4096, 100e6, 300 * MS, 30, noProgress, true, throttle, dirtyingFast);
    }

    @Test
    void shouldThrottleWhenTheGuestDirtiesFasterThanHalfTheLinkTwiceInARowEvenWhileTheDirtySetShrinks() {
        assertThat(policy.decide(auto(2, 0, 0, 1))).as("once: not yet").isEqualTo(new ConvergencePolicy.Continue());
        assertThat(policy.decide(auto(3, 0, 0, 2))).isEqualTo(new ConvergencePolicy.Throttle(20));
        assertThat(policy.decide(auto(5, 0, 20, 2))).isEqualTo(new ConvergencePolicy.Throttle(30));
    }

    @Test
    void shouldThrottleAsQemuDoesWhenARoundMakesNoProgressUnderAutoConverge() {
        assertThat(policy.decide(auto(2, 0, 0))).as("progress: no throttle").isEqualTo(new ConvergencePolicy.Continue());
        assertThat(policy.decide(auto(2, 1, 0))).isEqualTo(new ConvergencePolicy.Throttle(20));
        assertThat(policy.decide(auto(3, 2, 20))).isEqualTo(new ConvergencePolicy.Throttle(30));
        assertThat(policy.decide(auto(9, 8, 90))).isEqualTo(new ConvergencePolicy.Throttle(99));
        // Patience runs out only at the highest throttle: before it, each stalled round brakes harder.
        assertThat(policy.decide(auto(6, ConvergencePolicy.PATIENCE, 40))).isEqualTo(new ConvergencePolicy.Throttle(50));
        assertThat(policy.decide(auto(10, ConvergencePolicy.PATIENCE, 99))).isEqualTo(new ConvergencePolicy.Stop(StopReason.NO_PROGRESS));
        assertThat(policy.decide(auto(30, 1, 50))).as("max rounds still ends it").isEqualTo(new ConvergencePolicy.Stop(StopReason.MAX_ROUNDS));
        assertThat(policy.decide(ctx(2, 100_000, 4096, 100e6, 1))).as("without auto-converge: no throttle")
                .isEqualTo(new ConvergencePolicy.Continue());
    }

    @Test
    void shouldRunAnotherRoundWithinTheLimitWhileRoundsHalveTheDirtySet() {
        // The 1 GiB dirty guest after round 1: 750 pages × 4 KiB at 570 MB/s = 5.4 ms, within 300 ms,
        // but round 1 sent 262144 pages: one more short round leaves far fewer for the pause.
        assertThat(policy.decide(ctx(1, 262_144, 750, 4096, 570e6, 0))).isEqualTo(new ConvergencePolicy.Continue());
    }

    @Test
    void shouldStopOnceTheRestIsASmallPauseEvenIfItWouldStillShrink() {
        // 20 pages × 4 KiB at 750 MB/s = 0.11 ms <= 1 ms
        assertThat(policy.decide(ctx(2, 750, 20, 4096, 750e6, 0))).isEqualTo(new ConvergencePolicy.Stop(StopReason.CONVERGED));
    }

    @Test
    void shouldStopWithinTheLimitWhenARoundNoLongerHalvesTheDirtySet() {
        // 400 of 750 left: the guest dirties at more than half the link's rate, another round buys little.
        assertThat(policy.decide(ctx(3, 750, 400, 4096, 570e6, 0))).isEqualTo(new ConvergencePolicy.Stop(StopReason.CONVERGED));
        assertThat(policy.decide(ctx(3, 750, 375, 4096, 570e6, 0))).isEqualTo(new ConvergencePolicy.Continue());
    }

    @Test
    void shouldStopWhenTheRestFitsTheDowntimeLimit() {
        // 1000 pages × 4 KiB at 100 MB/s = 41 ms <= 300 ms
        assertThat(policy.decide(ctx(2, 1000, 4096, 100e6, 0))).isEqualTo(new ConvergencePolicy.Stop(StopReason.CONVERGED));
    }

    @Test
    void shouldStopAtOnceWhenNothingIsDirty() {
        assertThat(policy.decide(ctx(1, 0, 4096, 0, 0))).isEqualTo(new ConvergencePolicy.Stop(StopReason.CONVERGED));
    }

    @Test
    void shouldContinueWhileTheRestIsTooLargeForTheLimit() {
        // 100000 pages × 4 KiB at 100 MB/s = 4.1 s
        assertThat(policy.decide(ctx(2, 100_000, 4096, 100e6, 0))).isEqualTo(new ConvergencePolicy.Continue());
    }

    @Test
    void shouldCountDispensablePagesAtTheirWireCost() {
        // 100000 mostly-zero pages at ~32 bytes each = 3.2 MB at 100 MB/s = 32 ms: converged
        assertThat(policy.decide(ctx(2, 100_000, 32, 100e6, 0))).isEqualTo(new ConvergencePolicy.Stop(StopReason.CONVERGED));
    }

    @Test
    void shouldStopAtMaxRounds() {
        assertThat(policy.decide(ctx(30, 100_000, 4096, 100e6, 0))).isEqualTo(new ConvergencePolicy.Stop(StopReason.MAX_ROUNDS));
        assertThat(policy.decide(ctx(29, 100_000, 4096, 100e6, 0))).isEqualTo(new ConvergencePolicy.Continue());
    }

    @Test
    void shouldStopWhenRoundsStopMakingProgress() {
        assertThat(policy.decide(ctx(5, 100_000, 4096, 100e6, ConvergencePolicy.PATIENCE)))
                .isEqualTo(new ConvergencePolicy.Stop(StopReason.NO_PROGRESS));
        assertThat(policy.decide(ctx(5, 100_000, 4096, 100e6, ConvergencePolicy.PATIENCE - 1))).isEqualTo(new ConvergencePolicy.Continue());
    }

    @Test
    void shouldTreatAnUnmeasuredBandwidthAsNotConverged() {
        assertThat(policy.decide(ctx(1, 10, 4096, 0, 0))).isEqualTo(new ConvergencePolicy.Continue());
    }

    @Test
    void shouldCountOnlyRoundsThatFailToShrinkTheDirtySetByFivePercent() {
        ConvergencePolicy.ProgressTracker t = new ConvergencePolicy.ProgressTracker();
        assertThat(t.record(10_000)).isZero();
        assertThat(t.record(9_000)).isZero();   // -10 %: progress
        assertThat(t.record(8_800)).isEqualTo(1); // -2.2 %: none
        assertThat(t.record(9_500)).isEqualTo(2); // grew
        assertThat(t.record(8_000)).isZero();     // below 95 % of the best (9000)
        assertThat(t.record(8_000)).isEqualTo(1);
    }
}
