package io.d3vm.migration.send;

/**
 * When pre-copy stops iterating (docs/DESIGN.md, "Pre-copy, as we run it" 3). Checked in this order
 * after every live round:
 * <ol>
 * <li>{@link StopReason#CONVERGED}: the dirty pages left would cross within the downtime limit at
 *     the bandwidth the last round measured ({@link PrecopyContext#expectedDowntimeNanos}), and
 *     either within {@link #SMALL_PAUSE_NANOS} or the last round failed to halve the dirty set.
 *     The limit is what the pause may cost, not a target: while each round leaves at most half of
 *     what it sent, the next one is shorter still and leaves less for the pause (a guest dirtying
 *     at less than half the link's rate converges to a floor in a few short rounds). Stopping at
 *     the limit at once left 430–860 of the 1 GiB {@code dirty} guest's pages for the pause; with
 *     the extra round 68–147 (./d3vm bench, docs/BENCHMARKS.md);</li>
 * <li>{@link StopReason#MAX_ROUNDS}: the live-round limit is reached;</li>
 * <li>{@link StopReason#NO_PROGRESS}: {@value #PATIENCE} rounds in a row failed to shrink the dirty
 *     set below {@code 95 %} of the smallest one seen before — the guest dirties memory as fast as
 *     it can be sent, so more rounds only waste bandwidth.</li>
 * </ol>
 */
public final class ConvergencePolicy {
    /** Below this expected final pass, one more round cannot buy anything worth its own dirty-log sync. */
    public static final long SMALL_PAUSE_NANOS = 1_000_000L;
    /** Non-improving rounds tolerated before giving up on convergence. */
    public static final int PATIENCE = 3;
    /** A round improves when it leaves fewer than this fraction of the best dirty count so far. */
    public static final double PROGRESS_RATIO = 0.95;

    /** Continue with another live round, or why to stop. */
    public sealed interface Decision permits Continue, Stop {}

    public record Continue() implements Decision {}

    public record Stop(StopReason reason) implements Decision {}

    public Decision decide(PrecopyContext c) {
        double expected = c.expectedDowntimeNanos();
        if (expected <= c.downtimeLimitNanos() && (expected <= SMALL_PAUSE_NANOS || !c.halvedTheDirtySet())) {
            return new Stop(StopReason.CONVERGED);
        }
        if (c.round() >= c.maxRounds()) {
            return new Stop(StopReason.MAX_ROUNDS);
        }
        if (c.roundsWithoutProgress() >= PATIENCE) {
            return new Stop(StopReason.NO_PROGRESS);
        }
        return new Continue();
    }

    /** Tracks dirty counts round by round to compute {@link PrecopyContext#roundsWithoutProgress}. */
    public static final class ProgressTracker {
        private long best = Long.MAX_VALUE;
        private int without;

        /** Records the dirty count left after a round; returns the consecutive non-improving rounds. */
        public int record(long dirtyPages) {
            if (best == Long.MAX_VALUE || dirtyPages < best * PROGRESS_RATIO) {
                without = 0;
            } else {
                without++;
            }
            best = Math.min(best, dirtyPages);
            return without;
        }
    }
}
