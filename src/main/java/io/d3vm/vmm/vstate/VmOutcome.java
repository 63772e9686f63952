package io.d3vm.vmm.vstate;

/** How a VM's run ended; the CLI turns it into the process exit code. */
public sealed interface VmOutcome {
    int exitCode();

    String describe();

    /** The guest powered off (ACPI PM1a sleep, isa-debug-exit). Exit code 0. */
    record PowerOff(String source) implements VmOutcome {
        public int exitCode() {
            return 0;
        }

        public String describe() {
            return "guest powered off via " + source;
        }
    }

    /** The guest reset the machine (i8042 0xFE): d3vm has no reboot, so the VM ends. Exit code 0. */
    record Reset(String source) implements VmOutcome {
        public int exitCode() {
            return 0;
        }

        public String describe() {
            return "guest reset via " + source + "; d3vm ends the VM on reset";
        }
    }

    /** The VMM shut the VM down (after a migration, or on request). Exit code 0. */
    record Stopped(String reason) implements VmOutcome {
        public int exitCode() {
            return 0;
        }

        public String describe() {
            return "VM stopped: " + reason;
        }
    }

    /** The guest or the VMM failed; the message names the exit reason and the guest RIP. Exit code 1. */
    record Failed(String message) implements VmOutcome {
        public int exitCode() {
            return 1;
        }

        public String describe() {
            return message;
        }
    }
}
