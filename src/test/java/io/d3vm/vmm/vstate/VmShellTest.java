package io.d3vm.vmm.vstate;

import io.d3vm.kvm.KvmTestSupport;
import io.d3vm.vmm.boot.BootCpuState;
import io.d3vm.vmm.boot.LongMode;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A VM prepared before its memory is known (what {@code receive} keeps ready) runs like one built at once. */
@Tag("kvm")
class VmShellTest {

    @Test
    void shouldRunAGuestInAShellPreparedBeforeItsMemoryWasKnown() throws Exception {
        VmShell shell = VmShell.prepare(KvmTestSupport.kvm(), 1);
        byte[] code = new GuestCode().print("shell\n").powerOff().spin().toArray();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Vm vm = Vm.attach(shell, new VmConfig(X86Layout.forMemory(32 << 20), 1, out, "test:hand"))) {
            MemorySegment.copy(code, 0, vm.memory().slice(VmTest.CODE, code.length), JAVA_BYTE, 0, code.length);
            BootCpuState boot = LongMode.setUp(vm.memory(), VmTest.CODE);
            vm.setUpBootVcpu(boot, 0);
            vm.start();
            VmOutcome o = vm.awaitOutcome(Duration.ofSeconds(20));
            assertThat(o).isInstanceOf(VmOutcome.PowerOff.class);
            assertThat(out.toString(StandardCharsets.US_ASCII)).isEqualTo("shell\n");
        }
    }

    @Test
    void shouldRefuseAGuestWithAnotherVcpuCountAndBeUsedOnlyOnce() {
        VmShell two = VmShell.prepare(KvmTestSupport.kvm(), 2);
        assertThatThrownBy(() -> Vm.attach(two, new VmConfig(X86Layout.forMemory(32 << 20), 1, new ByteArrayOutputStream(), "test:hand")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("2 vCPUs").hasMessageContaining("needs 1");
        VmShell one = VmShell.prepare(KvmTestSupport.kvm(), 1);
        Vm vm = Vm.attach(one, new VmConfig(X86Layout.forMemory(32 << 20), 1, new ByteArrayOutputStream(), "test:hand"));
        vm.close();
        assertThatThrownBy(() -> Vm.attach(one, new VmConfig(X86Layout.forMemory(32 << 20), 1, new ByteArrayOutputStream(), "test:hand")))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("already used");
    }
}
