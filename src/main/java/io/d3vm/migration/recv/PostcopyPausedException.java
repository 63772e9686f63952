package io.d3vm.migration.recv;

import io.d3vm.migration.MigrationException;
import io.d3vm.migration.guest.Migratable;

/**
 * Post-copy broke after GO: the guest ran here while some of its pages were still at the source,
 * and the connection ended before they all arrived. Neither side holds the whole guest now, so this
 * one is neither discarded nor resumed: {@link #held} hands it to the caller (its vCPUs paused or
 * waiting on their missing pages, which stay registered for faults), and the source keeps the pages
 * it still has, paused. Both processes must stay up until the source resumes or an operator
 * decides; see docs/RELIABILITY.md.
 */
public final class PostcopyPausedException extends MigrationException {
    private static final long serialVersionUID = 1L;

    private final transient HeldPostcopy held;

    PostcopyPausedException(String message, HeldPostcopy held, Throwable cause) {
        super(message, cause);
        this.held = held;
    }

    /** The half held here: resume it when the source reconnects, or discard it. */
    public HeldPostcopy held() {
        return held;
    }

    /** The guest as it ran here, paused; the caller owns it. */
    public Migratable guest() {
        return held.guest();
    }
}
