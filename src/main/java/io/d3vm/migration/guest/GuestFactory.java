package io.d3vm.migration.guest;

import io.d3vm.memory.MemoryLayout;

/**
 * Builds a destination guest, paused and with zeroed memory of the given layout, from the
 * description the source sent ({@link Migratable#describe()}). The receiver is given one factory
 * per guest kind it accepts ({@code synthetic}, and {@code test} / {@code linux} when the VMM is
 * present).
 */
public interface GuestFactory {
    /** @throws IllegalArgumentException when the description or layout is not acceptable */
    Migratable createDestination(String description, MemoryLayout layout);
}
