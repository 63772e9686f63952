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
 * <li>With {@code --auto-converge}, the guest is throttled ({@link Throttle}) as QEMU does it: when
 *     in {@value #DIRTY_RATE_HIGH_ROUNDS} rounds in a row it dirtied more than half as many bytes as
 *     the round sent (QEMU's trigger), or a round failed to shrink the dirty set at all:
 *     {@value #THROTTLE_INITIAL} % the first time, then {@value #THROTTLE_INCREMENT} more each time,
 *     at most {@value #THROTTLE_MAX} %. The guest runs less of the time and dirties memory slower,
 *     until the rest fits the downtime limit. Waiting for a stall alone throttled too late: at
 *     1 Gbit/s the busy guest's dirty set shrank ~10 % a round, which counts as progress, and took
 *     15 rounds where QEMU's trigger brakes from round 3;</li>
 * <li>{@link StopReason#NO_PROGRESS}: {@value #PATIENCE} rounds in a row failed to shrink the dirty
 *     set below {@code 95 %} of the smallest one seen before (under auto-converge: at the highest
 *     throttle) — the guest dirties memory as fast as it can be sent, so more rounds only waste
 *     bandwidth.</li>
 * </ol>
 * A stop other than {@code CONVERGED} leaves more for the pause than the limit allows: the sender
 * then fails the migration (the guest runs on) unless {@code --allow-long-downtime}.
 */
public final class ConvergencePolicy {
    /** Below this expected final pass, one more round cannot buy anything worth its own dirty-log sync. */
    public static final long SMALL_PAUSE_NANOS = 1_000_000L;
    /** Non-improving rounds tolerated before giving up on convergence. */
    public static final int PATIENCE = 3;
    /** A round improves when it leaves fewer than this fraction of the best dirty count so far. */
    public static final double PROGRESS_RATIO = 0.95;
    /** QEMU's cpu-throttle-initial, cpu-throttle-increment and its ceiling. */
    public static final int THROTTLE_INITIAL = 20;
    public static final int THROTTLE_INCREMENT = 10;
    public static final int THROTTLE_MAX = 99;
    /** Rounds in a row dirtying more than half of what they sent before a throttle step (QEMU's count of 2). */
    public static final int DIRTY_RATE_HIGH_ROUNDS = 2;

    /** Continue with another live round, or why to stop. */
    public sealed interface Decision permits Continue, Throttle, Stop {}

    public record Continue() implements Decision {}

    /** Continue, with the guest throttled to {@code percent} from now on. */
    public record Throttle(int percent) implements Decision {}

    public record Stop(StopReason reason) implements Decision {}

    public Decision decide(PrecopyContext c) {
        double expected = c.expectedDowntimeNanos();
        if (expected <= c.downtimeLimitNanos() && (expected <= SMALL_PAUSE_NANOS || !c.halvedTheDirtySet())) {
            return new Stop(StopReason.CONVERGED);
        }
        if (c.round() >= c.maxRounds()) {
            return new Stop(StopReason.MAX_ROUNDS);
        }
        if (c.autoConverge() && (c.roundsDirtyingFast() >= DIRTY_RATE_HIGH_ROUNDS || c.roundsWithoutProgress() >= 1)
                && c.throttlePercent() < THROTTLE_MAX) {
            return new Throttle(c.throttlePercent() == 0 ? THROTTLE_INITIAL : Math.min(THROTTLE_MAX, c.throttlePercent() + THROTTLE_INCREMENT));
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
