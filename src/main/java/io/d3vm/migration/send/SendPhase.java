package io.d3vm.migration.send;

import java.util.Locale;

/**
 * Where a sending migration is, in order; {@link #json} is the name the progress line, the
 * control API's {@code query-migrate} ({@code phase}) and error messages use.
 */
public enum SendPhase {
    /** Connecting, handshake, layout. */
    SETUP,
    /** Rounds of pages while the guest runs. */
    PRE_COPY,
    /** The guest is paused: last round, state, COMPLETE. */
    STOP_AND_COPY,
    /** COMPLETE sent; the destination checks and restores (guest still paused here). */
    WAITING_ACK,
    /** The positive ACK arrived; GO is being sent. */
    GO,
    /** After GO of a post-copy: the guest runs at the destination, which gets its remaining pages now. */
    POSTCOPY,
    /** Post-copy broke after GO: each side keeps its half; this one reconnects to resume. */
    POSTCOPY_PAUSED,
    /** After GO: the paused source memory is hashed and compared with the destination's digest. */
    AUDIT,
    COMPLETED,
    FAILED,
    CANCELLED;

    public String json() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** The phase named {@code text}, or null for a name no phase has. */
    public static SendPhase fromJson(String text) {
        for (SendPhase p : values()) {
            if (p.json().equals(text)) {
                return p;
            }
        }
        return null;
    }

    /** The guest is paused here by the migration itself (from the stop until GO is out; after a post-copy's GO, for good). */
    public boolean guestPaused() {
        return this == STOP_AND_COPY || this == WAITING_ACK || this == GO || this == POSTCOPY || this == POSTCOPY_PAUSED;
    }

    /** The migration has ended, one way or the other. */
    public boolean ended() {
        return this == COMPLETED || this == FAILED || this == CANCELLED;
    }

    @Override
    public String toString() {
        return json();
    }
}
