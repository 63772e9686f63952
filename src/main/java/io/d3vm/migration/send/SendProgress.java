package io.d3vm.migration.send;

/**
 * A snapshot of a running migration for progress displays and the control API.
 *
 * @param phase           where the migration is
 * @param round           current round (1-based; 0 during setup)
 * @param roundPagesDone  pages of this round already sent
 * @param roundPages      pages this round has to send
 * @param totalPages      guest pages
 * @param bytesSent       bytes written to the connection so far
 * @param dirtyPages      pages known dirty for the next round (after the last dirty-log sync)
 * @param elapsedNanos    since the migration started
 */
public record SendProgress(SendPhase phase, int round, long roundPagesDone, long roundPages, long totalPages, long bytesSent,
                           long dirtyPages, long elapsedNanos) {
    /** Percent of the current round done (round 1 is all of memory). */
    public double percent() {
        return roundPages == 0 ? 100 : 100.0 * roundPagesDone / roundPages;
    }
}
