package io.d3vm.migration.guest;

import io.d3vm.memory.MemoryLayout;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The guest kinds a destination accepts, by the prefix of their description ({@code synthetic:…},
 * {@code test:…}): the receiver hands each incoming description to the factory registered for its
 * prefix. The CLI registers {@code synthetic}; the VMM registers its own kinds.
 */
public final class GuestFactories {
    private final Map<String, GuestFactory> byPrefix = new LinkedHashMap<>();

    public GuestFactories register(String prefix, GuestFactory factory) {
        if (!prefix.matches("[a-z][a-z0-9-]*")) {
            throw new IllegalArgumentException("bad guest kind prefix '" + prefix + "'");
        }
        if (byPrefix.putIfAbsent(prefix, factory) != null) {
            throw new IllegalArgumentException("guest kind '" + prefix + "' registered twice");
        }
        return this;
    }

    /** The kinds accepted, for messages. */
    public String kinds() {
        return String.join(", ", byPrefix.keySet());
    }

    /** The kind ({@code synthetic}) of a description ({@code synthetic:mem=1G}). */
    public static String kindOf(String description) {
        int colon = description.indexOf(':');
        return colon < 0 ? description : description.substring(0, colon);
    }

    /**
     * Builds the paused, zeroed destination guest for {@code description}.
     *
     * @throws IllegalArgumentException when no factory takes the kind, or the factory refuses
     */
    public Migratable create(String description, MemoryLayout layout) {
        String kind = kindOf(description);
        GuestFactory f = byPrefix.get(kind);
        if (f == null) {
            throw new IllegalArgumentException("this receiver does not accept '" + kind + "' guests (it accepts: "
                    + (byPrefix.isEmpty() ? "none" : kinds()) + ")");
        }
        return f.createDestination(description, layout);
    }

    public boolean accepts(String description) {
        return byPrefix.containsKey(kindOf(description));
    }
}
