package io.d3vm.vmm.boot;

import io.d3vm.memory.GuestMemory;

import java.io.IOException;

/**
 * A guest whose files and options were checked and that is ready to be written into a VM: every
 * check a loader can make without guest memory has run, so a bad argument is found before
 * /dev/kvm is opened. One implementation per boot format.
 */
public interface PreparedGuest {
    long memBytes();

    /** What the VM and its migration call the guest ({@code test:...}, {@code linux:...}). */
    String description();

    /** Writes the guest into {@code memory} (once); returns the boot vCPU's state. */
    Loaded load(GuestMemory memory) throws IOException;

    /** The console line that says the guest is up (for the start-up time). */
    String bootLine();

    /**
     * What a loader leaves for the boot vCPU.
     *
     * @param entry   how the boot vCPU starts
     * @param summary one line on what was loaded where, for {@code run --verbose}
     */
    record Loaded(BootEntry entry, String summary) {}
}
