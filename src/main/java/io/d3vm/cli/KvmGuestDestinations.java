package io.d3vm.cli;

import io.d3vm.api.ConsoleTap;
import io.d3vm.kvm.Kvm;
import io.d3vm.kvm.KvmUnavailableException;
import io.d3vm.memory.MemoryLayout;
import io.d3vm.migration.guest.GuestFactory;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.vmm.vstate.GuestShape;
import io.d3vm.vmm.vstate.KvmGuestFactory;
import io.d3vm.vmm.vstate.StateWarmup;
import io.d3vm.vmm.vstate.VmShell;

import java.io.OutputStream;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.CompletableFuture;

/**
 * {@code receive}'s factory for KVM guests ({@code test:}, {@code multiboot:}, {@code linux:}): a KVM VM per migration (the VMM's
 * {@link KvmGuestFactory}) whose serial console goes to this process's console through a fresh
 * {@link ConsoleTap}; its KVM VM and vCPUs are prepared before the source connects. /dev/kvm is opened on the first such migration, so a receiver of synthetic
 * guests runs on hosts without it; without it a {@code test:} migration is refused at setup.
 */
final class KvmGuestDestinations implements GuestFactory {
    private final String kvmDevice;
    private final OutputStream console;
    private final OutputStream debugcon;
    private final Map<Migratable, ConsoleTap> taps = new WeakHashMap<>();
    private Kvm kvm;
    /** The next destination's VM, prepared ahead (null: none). */
    private CompletableFuture<VmShell> spare;
    /** vCPUs of the next prepared VM: those of the last guest received. */
    private int nextVcpus = 1;

    /** @param debugcon where received guests' port-0xe9 bytes go (null: no debug console) */
    KvmGuestDestinations(String kvmDevice, OutputStream console, OutputStream debugcon) {
        this.kvmDevice = kvmDevice;
        this.console = console;
        this.debugcon = debugcon;
    }

    /**
     * Opens /dev/kvm now if it opens, so the first migration's setup does not pay for it (the
     * device, the KVM ioctl bindings); where it does not open, the first {@code test:} migration
     * is refused then, with the reason, as before.
     */
    /**
     * Opens KVM now and does the one-time work of the first destination VM off any migration's
     * clock; returns why KVM cannot be used, or null when it can.
     */
    synchronized String openKvm() {
        if (kvm == null) {
            try {
                kvm = Kvm.open(kvmDevice);
            } catch (KvmUnavailableException e) {
                return e.getMessage();
            }
        }
        try {
            StateWarmup.run(kvm);
        } catch (RuntimeException e) {
            // a KVM that cannot build VMs refuses the first test: guest with the reason
        }
        prepareNext(1);
        return null;
    }

    /**
     * Prepares the next destination's {@link VmShell} (KVM VM, irqchip, PIT, vCPUs) now, on a
     * daemon thread, so that the next migration's setup only maps memory and adds memslots. A
     * shell of the wrong vCPU count is closed and the VM built on the spot.
     */
    private void prepareNext(int vcpus) {
        Kvm k = kvm;
        CompletableFuture<VmShell> f = new CompletableFuture<>();
        Thread.ofPlatform().daemon().name("vm-prepare").start(() -> {
            try {
                f.complete(VmShell.prepare(k, vcpus));
            } catch (RuntimeException e) {
                f.completeExceptionally(e);
            }
        });
        spare = f;
    }

    /** The prepared shell if it has {@code vcpus} vCPUs (waiting for it if still being made), else null. */
    private VmShell takeSpare(int vcpus) {
        CompletableFuture<VmShell> f = spare;
        spare = null;
        if (f == null) {
            return null;
        }
        try {
            VmShell s = f.join();
            if (s.vcpuCount() == vcpus) {
                return s;
            }
            s.close();
        } catch (RuntimeException e) {
            // building it on the spot reports the error
        }
        return null;
    }

    @Override
    public synchronized Migratable createDestination(String description, MemoryLayout layout) {
        if (kvm == null) {
            try {
                kvm = Kvm.open(kvmDevice);
            } catch (KvmUnavailableException e) {
                throw new IllegalArgumentException("this receiver cannot run KVM guests: " + e.getMessage());
            }
        }
        ConsoleTap tap = new ConsoleTap(console);
        tap.hold(); // until receive has printed how the migration went
        // The source's vCPU count travels in its description (vcpus=N, absent for 1).
        int vcpus = GuestShape.parse(description).vcpus();
        Migratable vm = new KvmGuestFactory(kvm, vcpus, tap, debugcon).createDestination(description, layout, takeSpare(vcpus));
        taps.put(vm, tap);
        nextVcpus = vcpus;
        // The next shell is made only after this migration (prepareNextIfNone): creating a KVM VM
        // during it would compete with its pause for the CPU and for KVM's locks.
        return vm;
    }

    /** After a migration ended: prepares the next destination's VM, with the last one's vCPU count, if none is ready. */
    synchronized void prepareNextIfNone() {
        if (kvm != null && spare == null) {
            prepareNext(nextVcpus);
        }
    }

    /** The console tap of a guest this factory built, or null. */
    synchronized ConsoleTap tapOf(Migratable guest) {
        return taps.get(guest);
    }
}
