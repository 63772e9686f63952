package io.d3vm.migration;

/**
 * A migration that did not complete, with a message for the operator that says what failed and,
 * where it can, what to do. Thrown by the sender (the source guest is running again, intact — except
 * after the hand-over's commit point, report status {@code unconfirmed}: then it stays paused) and
 * by the receiver (the destination guest has been discarded — except for
 * {@code recv.HandoverUnconfirmedException}, which keeps it paused).
 */
public class MigrationException extends Exception {
    private static final long serialVersionUID = 1L;

    public MigrationException(String message) {
        super(message);
    }

    public MigrationException(String message, Throwable cause) {
        super(message, cause);
    }
}
