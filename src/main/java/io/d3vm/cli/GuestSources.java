package io.d3vm.cli;

import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.migration.synthetic.SyntheticGuest;
import io.d3vm.migration.synthetic.SyntheticSpec;

import io.d3vm.kvm.Kvm;
import io.d3vm.vmm.vstate.GuestShape;
import io.d3vm.vmm.vstate.KvmGuestFactory;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.util.List;

/**
 * The guest kinds the CLI knows, in one place: how {@code migrate --guest SPEC} builds a running
 * source guest, and which {@link GuestFactories} {@code receive} accepts. A new kind (the VMM's
 * {@code test:} and {@code linux:} guests) registers here with one line each.
 *
 * <p>An instance builds source guests; it opens /dev/kvm when a KVM guest is asked for and closes
 * it on {@link #close} (the VMs it built keep their own file descriptors).
 */
final class GuestSources implements AutoCloseable {
    /** The kinds a source can be built of, by description prefix. */
    static final List<String> SOURCE_KINDS = List.of(SyntheticSpec.PREFIX, "test");

    private Kvm kvm;

    /** Builds the running source guest of {@code description}: synthetic, or a KVM test guest (one vCPU, console on stdout). */
    Migratable createSource(String description) {
        String kind = GuestFactories.kindOf(description);
        return switch (kind) {
            case SyntheticSpec.PREFIX -> SyntheticGuest.create(description);
            case "test" -> {
                if (kvm == null) {
                    kvm = Kvm.open();
                }
                yield new KvmGuestFactory(kvm, 1, new FileOutputStream(FileDescriptor.out)).bootSource(description);
            }
            default -> throw new IllegalArgumentException(unknownKind(kind, description));
        };
    }

    @Override
    public void close() {
        if (kvm != null) {
            kvm.close();
        }
    }

    private static String unknownKind(String kind, String description) {
        return "unknown guest kind '" + kind + "' in " + description + " (known: " + String.join(", ", SOURCE_KINDS)
                + "; e.g. synthetic:mem=4G,zero=70,uniform=10,dirty-rate=5000)";
    }

    /**
     * Destination factories for {@code receive}: synthetic guests, and KVM test guests built by
     * {@code testGuests} (its console tap per guest, its /dev/kvm path).
     */
    static GuestFactories destinations(KvmGuestDestinations testGuests) {
        GuestFactories f = SyntheticGuest.register(new GuestFactories());
        for (String kind : GuestShape.KINDS) {
            f.register(kind, testGuests); // every KVM kind is rebuilt the same way: memory and state come over the wire
        }
        return f;
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
            default -> throw new IllegalArgumentException(unknownKind(kind, description));
        }
    }
}
