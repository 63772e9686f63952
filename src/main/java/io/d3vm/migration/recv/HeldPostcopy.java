package io.d3vm.migration.recv;

import io.d3vm.migration.MigrationException;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.migration.transport.Connection;

/**
 * The destination's half of a post-copy that broke after GO ({@link PostcopyPausedException#held}):
 * the guest that ran here, paused, with the pages it had; its missing pages stay registered for
 * faults, so nothing reads them as zeros. Either {@link #resume} it when the source reconnects
 * (it reconnects by itself: {@code PostcopyRecovery}), or {@link #discard} it when the operator keeps the source's copy.
 */
public final class HeldPostcopy {
    private final MigrationReceiver receiver;
    private final MigrationReceiver.Session session;
    private final Migratable guest;
    private final PostcopyDestination postcopy;

    HeldPostcopy(MigrationReceiver receiver, MigrationReceiver.Session session, Migratable guest, PostcopyDestination postcopy) {
        this.receiver = receiver;
        this.session = session;
        this.guest = guest;
        this.postcopy = postcopy;
    }

    /** The guest as it ran here, paused. */
    public Migratable guest() {
        return guest;
    }

    /** Pages POSTCOPY named that this side never got. */
    public long missingPages() {
        return postcopy.missingPages();
    }

    /** The receiver whose statistics the resumed post-copy adds to. */
    public MigrationReceiver receiver() {
        return receiver;
    }

    /**
     * Finishes the post-copy over {@code connection} from the resuming source: returns the guest,
     * running and whole. Throws {@link PostcopyPausedException} (holding the guest again) if this
     * attempt breaks too, or {@link MigrationException} if the peer is not the resuming source.
     */
    public Migratable resume(Connection connection) throws MigrationException {
        return receiver.resume(session, connection);
    }

    /**
     * Gives this half up: the guest is shut down and the userfaultfd closed after it (threads still
     * waiting on a missing page are released onto zero pages, then end with the guest). Only when
     * the operator keeps the source's copy instead.
     */
    public void discard() {
        Thread shutdown = Thread.ofPlatform().daemon().name("postcopy-discard").start(guest::shutdown);
        postcopy.close(); // releases the waiting threads, so the shutdown can finish
        try {
            shutdown.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
