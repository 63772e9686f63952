package io.d3vm.api;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.vmm.vstate.Vm;
import io.d3vm.vmm.vstate.VmOutcome;

/**
 * A KVM {@link Vm} under the control API, with the {@link ConsoleTap} its serial output passes
 * through (for the test guest's tick and verify counters). Built by {@code run --api-socket} for
 * the booted guest and by {@code receive --api-socket} for each guest received.
 */
public final class VmGuest implements ControlledGuest {
    private final Vm vm;
    private final ConsoleTap console;

    /** @param console the tap the VM's serial output goes through, or null when there is none */
    public VmGuest(Vm vm, ConsoleTap console) {
        this.vm = vm;
        this.console = console;
    }

    public Vm vm() {
        return vm;
    }

    @Override
    public Migratable migratable() {
        return vm;
    }

    @Override
    public boolean alive() {
        return vm.outcomeNow() == null;
    }

    @Override
    public void describe(ObjectNode o) {
        VmOutcome end = vm.outcomeNow();
        o.put("guest", vm.describe());
        o.put("memory", vm.memory().totalBytes());
        o.put("vcpus", vm.vcpuCount());
        if (end != null) {
            o.put("outcome", end.describe());
        }
        o.put("kvm-exits", vm.exitCount());
        if (console != null) {
            ObjectNode c = o.putObject("console");
            if (console.tick() >= 0) {
                c.put("tick", console.tick());
            } else {
                c.putNull("tick");
            }
            c.put("verify-passes", console.verifyPasses());
            c.put("verify-mismatch-lines", console.mismatchLines());
            c.put("lines", console.lines());
            c.put("last-line", console.lastLine());
        }
    }

    @Override
    public void quit() {
        vm.powerOff("the control API (quit)");
    }
}
