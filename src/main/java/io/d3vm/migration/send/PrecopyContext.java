package io.d3vm.migration.send;

/**
 * Everything the convergence decision reads, after a live round, in one immutable object (after
 * Cloud Hypervisor's migration context): the policy is then a pure function that tests drive with
 * made-up numbers.
 *
 * @param round                 live rounds finished so far (1 after the first full pass)
 * @param roundPages            pages the last round sent (every page in round 1)
 * @param dirtyPages            pages dirtied since the round's pass began, still to send
 * @param wireBytesPerPage      bytes on the wire per page in the last round (dispensable pages
 *                              cost ~16 bytes, NORMAL ones ~4 KiB), the estimate for what is left
 * @param bandwidthBytesPerSec  measured send rate of the last round
 * @param downtimeLimitNanos    the tolerated pause ({@code --downtime-limit})
 * @param maxRounds             live-round limit ({@code --max-rounds})
 * @param roundsWithoutProgress consecutive rounds whose dirty set did not shrink below 95 % of the
 *                              smallest dirty set seen before
 * @param autoConverge          {@code --auto-converge}: a round without progress throttles the guest
 * @param throttlePercent       the throttle the last round ran under (0: none)
 * @param roundsDirtyingFast    consecutive rounds (since the last throttle step) in which the guest
 *                              dirtied more than half as many bytes as the round sent (QEMU's
 *                              {@code dirty_rate_high_cnt})
 */
public record PrecopyContext(int round, long roundPages, long dirtyPages, double wireBytesPerPage, double bandwidthBytesPerSec,
                             long downtimeLimitNanos, int maxRounds, int roundsWithoutProgress, boolean autoConverge,
                             int throttlePercent, int roundsDirtyingFast) {

    /** Seconds the remaining dirty pages would take at the measured bandwidth, in nanoseconds. */
    public double expectedDowntimeNanos() {
        if (dirtyPages == 0) {
            return 0;
        }
        if (bandwidthBytesPerSec <= 0) {
            return Double.POSITIVE_INFINITY;
        }
        return dirtyPages * wireBytesPerPage / bandwidthBytesPerSec * 1e9;
    }

    /** Whether the last round left at most half as many dirty pages as it sent: another one would shrink the rest again. */
    public boolean halvedTheDirtySet() {
        return dirtyPages * 2 <= roundPages;
    }
}
