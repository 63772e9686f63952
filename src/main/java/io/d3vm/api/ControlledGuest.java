package io.d3vm.api;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.d3vm.migration.guest.Migratable;

/**
 * The running guest a control API serves: what {@code migrate} moves, what {@code query-status}
 * describes and what {@code quit} ends. {@link VmGuest} is the KVM VM's; {@link ApiServer} is the
 * only caller.
 */
public interface ControlledGuest {
    /** The guest a migration sends. */
    Migratable migratable();

    /** True while the guest can still run here (not ended, not migrated away). */
    boolean alive();

    /** Adds the guest's own fields to a {@code query-status} answer (state, console counters). */
    void describe(ObjectNode into);

    /** Ends the guest as if it had powered off (the process then exits 0). */
    void quit();
}
