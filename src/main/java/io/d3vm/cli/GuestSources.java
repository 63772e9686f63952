package io.d3vm.cli;

import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.migration.guest.SyntheticGuest;
import io.d3vm.migration.guest.SyntheticSpec;

import io.d3vm.kvm.Kvm;
import io.d3vm.vmm.vstate.TestGuestFactory;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * The guest kinds the CLI knows, in one place: how {@code migrate --guest SPEC} builds a running
 * source guest, and which {@link GuestFactories} {@code receive} accepts. A new kind (the VMM's
 * {@code test:} and {@code linux:} guests) registers here with one line each.
 */
final class GuestSources {
    private GuestSources() {}

    /** Source guests by description prefix. */
    static Map<String, Function<String, Migratable>> sources() {
        Map<String, Function<String, Migratable>> m = new LinkedHashMap<>();
        m.put(SyntheticSpec.PREFIX, SyntheticGuest::create);
        m.put("test", d -> testGuests().bootSource(d));
        return m;
    }

    private static Kvm kvm;

    /**
     * KVM test guests (the VMM's {@code test:} kind): one vCPU, serial console on stdout. /dev/kvm
     * is opened on first use and kept for the process.
     */
    private static synchronized TestGuestFactory testGuests() {
        if (kvm == null) {
            kvm = Kvm.open();
        }
        return new TestGuestFactory(kvm, 1, new FileOutputStream(FileDescriptor.out));
    }

    /**
     * Destination factories for {@code receive}: synthetic guests, and KVM test guests built by
     * {@code testGuests} (its console tap per guest, its /dev/kvm path).
     */
    static GuestFactories destinations(TestGuestDestinations testGuests) {
        return SyntheticGuest.register(new GuestFactories()).register("test", testGuests);
    }

    /**
     * Parses {@code description} without building anything: a bad spec is a bad argument, found
     * before any guest or connection exists.
     *
     * @throws IllegalArgumentException saying what is wrong
     */
    static void check(String description) {
        String kind = GuestFactories.kindOf(description);
        switch (kind) {
            case SyntheticSpec.PREFIX -> SyntheticSpec.parse(description);
            case "test" -> io.d3vm.vmm.boot.testguest.TestGuestSpec.parse(description);
            default -> throw new IllegalArgumentException("unknown guest kind '" + kind + "' in " + description
                    + " (known: " + String.join(", ", sources().keySet()) + "; e.g. synthetic:mem=4G,zero=70,uniform=10,dirty-rate=5000)");
        }
    }

    /** Builds the running source guest of {@code description}. */
    static Migratable createSource(String description) {
        var f = sources().get(GuestFactories.kindOf(description));
        if (f == null) {
            throw new IllegalArgumentException("unknown guest kind '" + GuestFactories.kindOf(description) + "' in --guest " + description
                    + " (known: " + String.join(", ", sources().keySet()) + "; e.g. synthetic:mem=4G,zero=70,uniform=10,dirty-rate=5000)");
        }
        return f.apply(description);
    }
}
