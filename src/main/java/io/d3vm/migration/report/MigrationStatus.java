package io.d3vm.migration.report;

import java.util.Locale;

/**
 * How a migration stands or ended, on either side; {@link #json} is the name the report, the
 * control API and QEMU's {@code query-migrate} use. Only the sender and receiver set it.
 */
public enum MigrationStatus {
    /** No migration was started (the control API's {@code query-migrate} before the first). */
    NONE,
    /** Connecting, handshake, layout. */
    SETUP,
    /** Pre-copy or stop-and-copy under way (the control API's view of a running job). */
    ACTIVE,
    /** The destination acknowledged; the guest runs there. */
    COMPLETED,
    /** Ended before the hand-over; the source guest runs on, intact. */
    FAILED,
    /** Stopped by the operator before its point of no return; the source guest runs on. */
    CANCELLED,
    /** ACK read (or sent) but GO lost: the guest is paused on both sides and runs nowhere. */
    UNCONFIRMED,
    /**
     * Post-copy broke after GO: the destination holds the running guest (paused now) with part of
     * its memory, the source the rest, paused; nothing is lost while both keep their half.
     */
    POSTCOPY_PAUSED;

    public String json() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** The status named {@code text}; an unknown name is {@link #FAILED} (a report we cannot read did not complete). */
    public static MigrationStatus fromJson(String text) {
        for (MigrationStatus s : values()) {
            if (s.json().equals(text)) {
                return s;
            }
        }
        return FAILED;
    }

    public boolean ended() {
        return this != NONE && this != SETUP && this != ACTIVE;
    }
}
