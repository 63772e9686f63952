package io.d3vm.vmm.vstate;

import io.d3vm.kvm.KvmTestSupport;
import io.d3vm.vmm.boot.testguest.TestGuestImage;
import io.d3vm.vmm.boot.testguest.TestGuestLoader;
import io.d3vm.vmm.boot.testguest.TestGuestSpec;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.io.OutputStream;

/** Boots the real test guest (classpath /guest/d3guest.elf) on KVM for tests. */
public final class TestGuestSupport {
    private TestGuestSupport() {}

    /** The built guest, or the test is skipped with the reason (KVM tests only). */
    public static TestGuestImage image() {
        try {
            return TestGuestImage.builtIn();
        } catch (IOException e) {
            Assumptions.abort("the test guest is not built: " + e.getMessage());
            throw new AssertionError(e);
        }
    }

    /** A paused VM with the guest loaded for {@code spec}; the caller starts and closes it. */
    public static Vm load(String spec, OutputStream console) {
        return load(spec, console, null);
    }

    /** As {@link #load(String, OutputStream)}, with an ISA debug console writing to {@code debugcon} (null: none). */
    public static Vm load(String spec, OutputStream console, OutputStream debugcon) {
        TestGuestImage image = image();
        TestGuestSpec ts = TestGuestSpec.parse(spec);
        Vm vm = Vm.create(KvmTestSupport.kvm(), new VmConfig(X86Layout.forMemory(ts.memBytes()), 1, console, ts.describe(), debugcon));
        try {
            TestGuestLoader.Boot boot = TestGuestLoader.load(vm.memory(), image, ts, null);
            vm.setUpBootVcpu(boot.cpu(), boot.rax());
            return vm;
        } catch (RuntimeException e) {
            vm.close();
            throw e;
        }
    }
}
