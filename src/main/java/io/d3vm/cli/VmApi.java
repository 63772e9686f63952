package io.d3vm.cli;

import io.d3vm.api.ApiServer;
import io.d3vm.api.ConsoleTap;
import io.d3vm.api.VmGuest;
import io.d3vm.vmm.vstate.Vm;
import io.d3vm.vmm.vstate.VmOutcome;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;

/**
 * How {@code run} and {@code receive} host the control API for their VM: start it next to the
 * running guest, and when the VM has ended, learn whether it ended because it migrated away.
 */
final class VmApi {
    /** Long enough for a migration past its point of no return to hear the destination's verdict. */
    private static final Duration HAND_OVER_WAIT = Duration.ofSeconds(150);

    private VmApi() {}

    static ApiServer serve(Path socket, Vm vm, ConsoleTap console, PrintWriter err) throws IOException {
        return serve(socket, vm, console, null, err);
    }

    /** As {@link #serve(Path, Vm, ConsoleTap, PrintWriter)}; {@code held} non-null: the VM is held paused for that reason. */
    static ApiServer serve(Path socket, Vm vm, ConsoleTap console, String held, PrintWriter err) throws IOException {
        ApiServer api = ApiServer.start(socket, new VmGuest(vm, console), held);
        err.println("d3vm: control API on " + api.path() + " (JSON lines; {\"execute\": \"query-status\"})");
        err.flush();
        return api;
    }

    /**
     * Called once the VM has ended: waits for a migration in flight to settle, stops serving, and
     * returns where the guest went (HOST:PORT) if a migration completed, else null.
     */
    static String end(ApiServer api, VmOutcome outcome) throws InterruptedException {
        if (api == null) {
            return null;
        }
        try {
            // Only the VMM stops a VM after a migration; a guest that powered off or failed
            // during one ends it (close() cancels the migration).
            return outcome instanceof VmOutcome.Stopped ? api.migratedTo(HAND_OVER_WAIT) : null;
        } finally {
            api.close();
        }
    }
}
