package io.d3vm.migration.report;

import java.util.Locale;

/**
 * One step of the pause, as the report's {@code downtime-phases} names it (docs/REPORT.md,
 * "Downtime phases"), in the order the steps run on each side.
 */
public enum PauseStep {
    // Source: their sum is the downtime.
    PAUSE, FINAL_SYNC, FINAL_PASS, STATE_SAVE, FLUSH, DIGEST, FLUSH_COMPLETE, COMPLETE_TO_ACK, GO,
    // Source, post-copy only: the bitmap of the pages still to send, in place of the final pass.
    POSTCOPY_BITMAP,
    // Destination (DIGEST too): inside the source's complete-to-ack, except go-to-running.
    LAST_PAGE_TO_STATE, STATE_RESTORE, ACK, GO_TO_RUNNING,
    // Destination, post-copy only: the stale pages discarded and guest memory registered for faults.
    DISCARD;

    public String json() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }
}
