package io.d3vm.migration.send;

import java.util.Locale;

/**
 * How a migration proves that the destination holds the source's memory ({@code --verify}).
 * docs/REPORT.md ("Verification") explains what each proves and what it costs.
 */
public enum Verify {
    /**
     * Default. Gate: both sides fold a position-keyed hash of every page as it is sent / rebuilt;
     * COMPLETE carries the source's, the destination refuses on a mismatch (proves the wire, the
     * decoder and the received-map rule; costs the pause only the final round's pages). Audit:
     * after GO the source hashes its whole paused copy and compares with the destination's digest
     * (proves dirty tracking too; costs no downtime).
     */
    INCREMENTAL,
    /** The source hashes its whole paused memory inside the pause and the gate compares that: the gate covers dirty tracking. */
    STRICT,
    /** No digest at all (for measurements; a receiver accepts it only with {@code --allow-unverified}). */
    OFF;

    public String json() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** {@code incremental}, {@code strict} or {@code off}; anything else is refused with the choices. */
    public static Verify parse(String text) {
        for (Verify v : values()) {
            if (v.json().equals(text)) {
                return v;
            }
        }
        throw new IllegalArgumentException("unknown verify mode '" + text + "': use incremental, strict or off");
    }
}
