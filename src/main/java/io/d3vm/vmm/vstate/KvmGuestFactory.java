package io.d3vm.vmm.vstate;

import io.d3vm.kvm.Kvm;
import io.d3vm.memory.MemoryLayout;
import io.d3vm.migration.guest.GuestFactory;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.vmm.boot.testguest.TestGuestImage;
import io.d3vm.vmm.boot.testguest.TestGuestLoader;
import io.d3vm.vmm.boot.testguest.TestGuestSpec;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;

/**
 * Builds the destination of a migrating KVM guest of any kind ({@link GuestShape}: {@code test:},
 * {@code multiboot:}, {@code linux:}): a paused KVM VM with zeroed memory of the source's layout and
 * the same vCPU count, nothing loaded — memory arrives over the wire, the vCPUs and devices from
 * the saved state, so a kernel's file is never needed here. Also boots the test guest as a
 * migration source ({@link #bootSource}).
 */
public final class KvmGuestFactory implements GuestFactory {
    private final Kvm kvm;
    private final int vcpus;
    private final OutputStream console;
    private final OutputStream debugcon;

    /**
     * @param kvm     the process's /dev/kvm (the factory does not close it)
     * @param vcpus   vCPUs of the destination (the source's count; saved state with another count is refused)
     * @param console where the destination guest's serial output goes
     */
    public KvmGuestFactory(Kvm kvm, int vcpus, OutputStream console) {
        this(kvm, vcpus, console, null);
    }

    /** As above, with an ISA debug console (port 0xe9) writing to {@code debugcon} (null: none). */
    public KvmGuestFactory(Kvm kvm, int vcpus, OutputStream console, OutputStream debugcon) {
        this.kvm = kvm;
        this.vcpus = vcpus;
        this.console = console;
        this.debugcon = debugcon;
    }

    /**
     * Boots the built-in test guest described by {@code description} and lets it run: the source
     * side of a migration ({@code d3vm migrate --guest test:...}).
     */
    public Vm bootSource(String description) {
        TestGuestSpec spec = TestGuestSpec.parse(description);
        if (spec.params().containsKey(TestGuestSpec.VCPUS_KEY)) {
            throw new IllegalArgumentException("vcpus= is set by the VMM for its destinations, not in a guest description: " + description);
        }
        TestGuestImage image;
        try {
            image = TestGuestImage.builtIn();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Vm vm = Vm.create(kvm, new VmConfig(X86Layout.forMemory(spec.memBytes()), vcpus, console, spec.describe(), debugcon));
        try {
            TestGuestLoader.Boot boot = TestGuestLoader.load(vm.memory(), image, spec, null);
            vm.setUpBootVcpu(boot.cpu(), boot.rax());
            vm.start();
            return vm;
        } catch (RuntimeException e) {
            vm.close();
            throw e;
        }
    }

    @Override
    public Migratable createDestination(String description, MemoryLayout layout) {
        return createDestination(description, layout, null);
    }

    /**
     * As {@link #createDestination(String, MemoryLayout)}, completing {@code shell} (prepared before
     * the source connected, with this factory's vCPU count) when not null; the VM then owns it.
     */
    public Vm createDestination(String description, MemoryLayout layout, VmShell shell) {
        GuestShape shape;
        try {
            shape = GuestShape.parse(description);
        } catch (IllegalArgumentException e) {
            if (shell != null) {
                shell.close();
            }
            throw e;
        }
        MemoryLayout expected = X86Layout.forMemory(shape.memBytes());
        if (!expected.equals(layout)) {
            if (shell != null) {
                shell.close();
            }
            throw new IllegalArgumentException("memory layout " + layout + " does not match " + description
                    + " (expected " + expected + ")");
        }
        VmConfig config = new VmConfig(layout, vcpus, console, description, debugcon);
        return shell == null ? Vm.create(kvm, config) : Vm.attach(shell, config);
    }
}
