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
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static org.assertj.core.api.Assertions.assertThat;

@Tag("kvm")
class VmTest {
    static final long CODE = 0x100000;

    static Vm boot(byte[] code, ByteArrayOutputStream out, long mem) {
        Vm vm = Vm.create(KvmTestSupport.kvm(), new VmConfig(X86Layout.forMemory(mem), 1, out, "test:hand"));
        MemorySegment.copy(code, 0, vm.memory().slice(CODE, code.length), JAVA_BYTE, 0, code.length);
        BootCpuState boot = LongMode.setUp(vm.memory(), CODE);
        vm.setUpBootVcpu(boot, 0);
        return vm;
    }

    @Test
    void shouldRunHandWrittenCodeThatPrintsWritesMemoryAndPowersOff() throws Exception {
        byte[] code = new GuestCode().print("Hi\n").storeDword(0x200000, 0x12345678).powerOff().spin().toArray();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Vm vm = boot(code, out, 32 << 20)) {
            vm.start();
            VmOutcome o = vm.awaitOutcome(Duration.ofSeconds(20));
            assertThat(o).isInstanceOf(VmOutcome.PowerOff.class);
            assertThat(o.exitCode()).isZero();
            assertThat(out.toString(StandardCharsets.US_ASCII)).isEqualTo("Hi\n");
            assertThat(vm.memory().slice(0x200000, 4).get(JAVA_INT_UNALIGNED, 0)).isEqualTo(0x12345678);
        }
    }
}
