package io.d3vm.migration.send;

import io.d3vm.migration.MigrationException;

/**
 * The migration completed (the destination runs the guest) but the audit after GO found that the
 * source's paused memory differs from what the destination holds: a write the dirty log missed.
 * The source guest is kept paused, not shut down, so the operator can compare and decide; the
 * report has {@code audit-match: false} and the error.
 */
public final class AuditMismatchException extends MigrationException {
    private static final long serialVersionUID = 1L;

    public AuditMismatchException(String message) {
        super(message);
    }
}
