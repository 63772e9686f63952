package io.d3vm.migration;

import io.d3vm.sys.LibC;
import io.d3vm.sys.SysException;

/**
 * Makes the calling thread outrank everything else of its process on the CPU while the guest is
 * paused: the source's sending thread from the pause to GO, the destination's receiving thread
 * from its sync ACK to the resume. On a host with few cores the JIT compiler's threads (still
 * compiling what the live rounds made hot) and the other VMM's threads compete with exactly these
 * threads for the milliseconds the guest is frozen; a nice of -20 gives them the core first. Needs
 * CAP_SYS_NICE (root); without it nothing changes and nothing fails. The nice value is a system
 * property ({@code d3vm.pause.nice}, default -20; 0 turns this off) for A/B measurements.
 */
public final class PauseUrgency implements AutoCloseable {
    private static final int NICE = Integer.getInteger("d3vm.pause.nice", -20);
    private static final int NORMAL = 0;

    private boolean raised;

    private PauseUrgency() {}

    /** Raises the calling thread; {@link #close} (on the same thread) lowers it again. */
    public static PauseUrgency enter() {
        PauseUrgency u = new PauseUrgency();
        if (NICE != NORMAL) {
            try {
                LibC.setThreadNice(NICE);
                u.raised = true;
            } catch (SysException e) {
                // no CAP_SYS_NICE: run at the normal priority
            }
        }
        return u;
    }

    @Override
    public void close() {
        if (raised) {
            raised = false;
            try {
                LibC.setThreadNice(NORMAL);
            } catch (SysException e) {
                // lowering one's own priority is always allowed; nothing to do if it was not
            }
        }
    }
}
