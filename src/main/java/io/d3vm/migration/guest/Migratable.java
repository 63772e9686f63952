package io.d3vm.migration.guest;

import io.d3vm.memory.DirtyBitmap;
import io.d3vm.memory.GuestMemory;

/**
 * What the migration engine needs from a guest, and all it knows of one. The KVM VM (package
 * {@code vmm}) and the {@code SyntheticGuest} implement it; the engine never imports either.
 *
 * <p>Source side, in order: {@link #startDirtyLogging}, then repeated {@link #collectDirtyPages}
 * while the guest runs, {@link #pause}, a last {@link #collectDirtyPages}, {@link #saveState};
 * then either {@link #stopDirtyLogging} and {@link #shutdown} (the destination acknowledged) or
 * {@link #stopDirtyLogging} and {@link #resume} (the migration failed; the guest runs on, intact).
 *
 * <p>Destination side: the engine fills {@link #memory()} of a guest built paused by a
 * {@link GuestFactory}, then {@link #restoreState} and {@link #resume}.
 */
public interface Migratable {

    /** The guest's physical memory. Its layout crosses the wire in the handshake. */
    GuestMemory memory();

    /**
     * A short description the destination hands to its {@link GuestFactory} to build the same kind
     * of guest (e.g. {@code synthetic:mem=4G,zero=70} or {@code test:verify,mem=2G}).
     */
    String describe();

    /** Starts recording writes; every page written from now on shows in {@link #collectDirtyPages}. */
    void startDirtyLogging();

    /**
     * ORs into {@code into} every page written since the previous call (or since dirty logging
     * started) and resets the guest's log, atomically with respect to concurrent writes: a write
     * is reported by this call or by the next one, never lost.
     */
    void collectDirtyPages(DirtyBitmap into);

    void stopDirtyLogging();

    /** Stops the guest from running (vCPUs, writer threads, devices). Idempotent. */
    void pause();

    /** Lets a paused guest run again. Idempotent. */
    void resume();

    /** Opaque vCPU, VM and device state of a paused guest. */
    byte[] saveState();

    /**
     * {@link #saveState} begun now and finished while the caller does other work: the engine sends
     * the final dirty pages in the meantime, so the pause pays for the longer of the two, not
     * their sum. Reading state must not write guest memory (the final dirty pass may already have
     * read it). By default the state is read on {@link StateSaveThread}, started before the pause.
     */
    default java.util.concurrent.CompletableFuture<byte[]> saveStateAsync() {
        return StateSaveThread.submit(this);
    }

    /** Restores what {@link #saveState} produced on the source. The guest is paused. */
    void restoreState(byte[] state);

    /**
     * Auto-converge: lets the guest run only {@code 100 - percent} % of the time (0 = full speed,
     * at most 99), so it dirties memory slower than pre-copy sends it. The sender sets it back to 0
     * when the migration ends, whichever way.
     */
    void throttle(int percent);

    /** Ends the guest for good and releases its resources (source after the ack; failed destination). */
    void shutdown();
}
