package io.d3vm.kvm;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class VcpuExitTest {
    @Test
    void shouldDecodeTheInstructionBytesOfAnEmulationFailure() {
        // As kvm_pvm reported `popcnt rax, rbx` followed by `mov dx, 0x604; mov ax, 0x2000; out dx, ax`.
        var e = new VcpuExit.InternalError(1, new long[] {0x1, 0xba66c3b80f48f30fL, 0xef662000b8660604L, 0x1000, 0, 0});
        assertThat(e.instructionBytes()).isEqualTo("f3 48 0f b8 c3 66 ba 04 06 66 b8 00 20 66 ef");
        assertThat(e.describe()).isEqualTo("emulation failure of instruction bytes [f3 48 0f b8 c3 66 ba 04 06 66 b8 00 20 66 ef]");
    }

    @Test
    void shouldListRawDataWhenNoInstructionBytesCame() {
        var e = new VcpuExit.InternalError(3, new long[] {0x80000b0eL, 0x10});
        assertThat(e.instructionBytes()).isNull();
        assertThat(e.describe()).isEqualTo("error while delivering an event data=[0x80000b0e, 0x10]");
    }
}
