package io.d3vm.migration.recv;

import io.d3vm.migration.MigrationException;
import io.d3vm.migration.guest.Migratable;

/**
 * The destination verified the guest and sent its positive completion ACK, but the source's GO did
 * not arrive (connection lost, read timeout, garbage). The source may still run its copy (it never
 * saw the ACK) or may have committed (it saw the ACK; its GO was lost), and this side cannot tell
 * which. So the verified guest is neither resumed (two copies could run) nor discarded (it may be
 * the only copy left): it is handed to the caller paused, via {@link #guest()}.
 *
 * <p>Thrown by {@link MigrationReceiver#receive}; the CLI's {@code receive} reports it with its own
 * exit code and keeps the guest paused while the process lives.
 */
public final class HandoverUnconfirmedException extends MigrationException {
    private static final long serialVersionUID = 1L;

    private final transient Migratable guest;

    HandoverUnconfirmedException(String message, Migratable guest, Throwable cause) {
        super(message, cause);
        this.guest = guest;
    }

    /** The verified guest, paused, with its state restored; the caller owns it (and shuts it down). */
    public Migratable guest() {
        return guest;
    }
}
