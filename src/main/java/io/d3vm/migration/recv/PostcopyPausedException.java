package io.d3vm.migration.recv;

import io.d3vm.migration.MigrationException;
import io.d3vm.migration.guest.Migratable;

/**
 * Post-copy broke after GO: the guest ran here while some of its pages were still at the source,
 * and the connection ended before they all arrived. Neither side holds the whole guest now, so this
 * one is neither discarded nor resumed: it is handed to the caller (its vCPUs paused or waiting on
 * their missing pages, which stay registered for faults), and the source keeps the pages it still
 * has, paused. Both processes must stay up until an operator decides; see docs/RELIABILITY.md.
 */
public final class PostcopyPausedException extends MigrationException {
    private static final long serialVersionUID = 1L;

    private final transient Migratable guest;
    private final transient PostcopyDestination postcopy;
    private final long missingPages;

    PostcopyPausedException(String message, Migratable guest, PostcopyDestination postcopy, Throwable cause) {
        super(message, cause);
        this.guest = guest;
        this.postcopy = postcopy;
        this.missingPages = postcopy.missingPages();
    }

    /** The guest as it ran here, paused; the caller owns it. */
    public Migratable guest() {
        return guest;
    }

    /** Pages the source named and this side never got. */
    public long missingPages() {
        return missingPages;
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

    /** The fault-serving half kept with the guest (its userfaultfd must outlive it). */
    PostcopyDestination postcopy() {
        return postcopy;
    }
}
