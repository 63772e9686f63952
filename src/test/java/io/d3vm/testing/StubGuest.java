package io.d3vm.testing;

import io.d3vm.memory.DirtyBitmap;
import io.d3vm.memory.GuestMemory;
import io.d3vm.migration.guest.Migratable;

/**
 * The test suite's one hand-made {@link Migratable}: a guest that records what the migration
 * engine did to it (resumed, paused, shut down, the state it was given, dirty-log collections).
 * Either it is the guest — {@link #over} some memory, with no vCPUs and an empty dirty log — or
 * it forwards every call to a real guest ({@link #forwarding}) and records on the way. A test
 * scripts a behaviour by overriding one method and calling {@code super}.
 */
public class StubGuest implements Migratable {
    private final Migratable real;
    private final GuestMemory memory;
    private final String description;
    private volatile byte[] savedState = new byte[0];

    public volatile byte[] restored;
    public volatile boolean resumed;
    public volatile boolean paused;
    public volatile boolean shutdown;
    public volatile int collections;
    /** The last throttle the engine set (auto-converge), in percent. */
    public volatile int throttle;

    /** A guest of {@code memory} only, described as {@code description}; its saved state is empty until {@link #savedState}. */
    protected StubGuest(GuestMemory memory, String description) {
        this.real = null;
        this.memory = memory;
        this.description = description;
    }

    /** Forwards to {@code real}, recording. */
    protected StubGuest(Migratable real) {
        this.real = real;
        this.memory = real.memory();
        this.description = real.describe();
    }

    public static StubGuest over(GuestMemory memory, String description) {
        return new StubGuest(memory, description);
    }

    public static StubGuest forwarding(Migratable real) {
        return new StubGuest(real);
    }

    /** The guest this one forwards to (null for a memory-only stub). */
    public Migratable real() {
        return real;
    }

    /** What {@link #saveState} returns (memory-only stubs). */
    public StubGuest savedState(byte[] state) {
        this.savedState = state;
        return this;
    }

    @Override
    public GuestMemory memory() {
        return memory;
    }

    @Override
    public String describe() {
        return description;
    }

    @Override
    public void startDirtyLogging() {
        if (real != null) {
            real.startDirtyLogging();
        }
    }

    @Override
    public void collectDirtyPages(DirtyBitmap into) {
        collections++;
        if (real != null) {
            real.collectDirtyPages(into);
        }
    }

    @Override
    public void stopDirtyLogging() {
        if (real != null) {
            real.stopDirtyLogging();
        }
    }

    @Override
    public void pause() {
        paused = true;
        if (real != null) {
            real.pause();
        }
    }

    @Override
    public void resume() {
        resumed = true;
        paused = false;
        if (real != null) {
            real.resume();
        }
    }

    @Override
    public byte[] saveState() {
        return real != null ? real.saveState() : savedState;
    }

    @Override
    public void restoreState(byte[] state) {
        restored = state;
        if (real != null) {
            real.restoreState(state);
        }
    }

    @Override
    public void throttle(int percent) {
        throttle = percent;
        if (real != null) {
            real.throttle(percent);
        }
    }

    @Override
    public void shutdown() {
        shutdown = true;
        if (real != null) {
            real.shutdown();
        }
    }
}
