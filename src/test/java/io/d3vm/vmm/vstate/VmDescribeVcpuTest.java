package io.d3vm.vmm.vstate;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

@Tag("kvm")
class VmDescribeVcpuTest {

    @Test
    void shouldReportWhereASpinningGuestIsAndLetItRunOn() throws Exception {
        // jmp $ at the entry: the vCPU never exits by itself.
        try (Vm vm = VmTest.boot(new byte[] {(byte) 0xeb, (byte) 0xfe}, new ByteArrayOutputStream(), 32 << 20)) {
            vm.start();
            assertThat(vm.describeVcpu(0)).startsWith("vCPU 0: RIP 0x" + Long.toHexString(VmTest.CODE) + " ")
                    .contains("CR3 0x9000").contains("EFER 0x");
            // Still running afterwards: no outcome, and it can be described again.
            assertThat(vm.awaitOutcome(Duration.ofMillis(200))).isNull();
            assertThat(vm.describeVcpu(0)).contains("RIP 0x" + Long.toHexString(VmTest.CODE));
        }
    }
}
