package io.d3vm.vmm.persist;

import io.d3vm.kvm.Blob;
import io.d3vm.kvm.ClockData;
import io.d3vm.kvm.CpuidEntry;
import io.d3vm.kvm.DebugRegs;
import io.d3vm.kvm.Fpu;
import io.d3vm.kvm.IrqchipState;
import io.d3vm.kvm.LapicState;
import io.d3vm.kvm.MsrEntry;
import io.d3vm.kvm.Regs;
import io.d3vm.kvm.StructsTest;
import io.d3vm.kvm.VcpuEvents;
import io.d3vm.kvm.Xcr;
import io.d3vm.kvm.Xcrs;
import io.d3vm.kvm.Xsave;
import io.d3vm.vmm.devices.SerialState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class StateCodecTest {
    static byte[] bytes(Random r, int n) {
        byte[] b = new byte[n];
        r.nextBytes(b);
        return b;
    }

    static VcpuState randomVcpu(Random r, int id, boolean xsave) {
        long[] regs = new long[18];
        for (int i = 0; i < regs.length; i++) {
            regs[i] = r.nextLong();
        }
        List<MsrEntry> msrs = new ArrayList<>();
        for (int i = 0, n = r.nextInt(50); i < n; i++) {
            msrs.add(new MsrEntry(r.nextInt(), r.nextLong()));
        }
        List<CpuidEntry> cpuid = new ArrayList<>();
        for (int i = 0, n = r.nextInt(60); i < n; i++) {
            cpuid.add(new CpuidEntry(r.nextInt(), r.nextInt(), r.nextInt(2), r.nextInt(), r.nextInt(), r.nextInt(), r.nextInt()));
        }
        return new VcpuState(id, r.nextInt(11), Regs.fromArray(regs), StructsTest.randomSregs(r),
                xsave ? new Xsave(new Blob(bytes(r, 4096))) : null, xsave ? null : new Fpu(new Blob(bytes(r, 416))),
                r.nextBoolean() ? new Xcrs(List.of(new Xcr(0, r.nextLong())), r.nextInt()) : null,
                new DebugRegs(r.nextLong(), r.nextLong(), r.nextLong(), r.nextLong(), r.nextLong(), r.nextLong(), r.nextLong()),
                new LapicState(new Blob(bytes(r, 1024))), msrs, new VcpuEvents(new Blob(bytes(r, 64))), cpuid, r.nextInt(4_000_000));
    }

    static MachineState randomMachine(Random r) {
        VmState vm = new VmState(new IrqchipState(0, new Blob(bytes(r, 512))), new IrqchipState(1, new Blob(bytes(r, 512))),
                new IrqchipState(2, new Blob(bytes(r, 512))), StructsTest.randomPit(r),
                new ClockData(r.nextLong(), r.nextInt(), r.nextLong(), r.nextLong()));
        List<VcpuState> vcpus = new ArrayList<>();
        for (int i = 0, n = 1 + r.nextInt(4); i < n; i++) {
            vcpus.add(randomVcpu(r, i, r.nextBoolean()));
        }
        SerialState serial = new SerialState(r.nextInt(16), r.nextInt(256), r.nextInt(32), r.nextInt(256), r.nextInt(256),
                r.nextInt(256), r.nextBoolean(), r.nextBoolean(), bytes(r, r.nextInt(100)));
        return new MachineState(vm, vcpus, serial);
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void shouldRoundTripEveryRecordOfTheMachineState(long seed) {
        MachineState s = randomMachine(new Random(seed));
        MachineState back = StateCodec.decode(StateCodec.encode(s));
        assertThat(back.vm()).isEqualTo(s.vm());
        assertThat(back.serial()).isEqualTo(s.serial());
        assertThat(back.vcpus()).hasSameSizeAs(s.vcpus());
        for (int i = 0; i < s.vcpus().size(); i++) {
            assertThat(back.vcpus().get(i)).isEqualTo(s.vcpus().get(i));
        }
        assertThat(back).isEqualTo(s);
    }

    @ParameterizedTest
    @ValueSource(longs = {11, 12, 13})
    void shouldRejectEveryTruncationWithoutReadingPastTheEnd(long seed) {
        byte[] full = StateCodec.encode(randomMachine(new Random(seed)));
        Random r = new Random(seed);
        for (int k = 0; k < 200; k++) {
            int cut = r.nextInt(full.length);
            assertThatThrownBy(() -> StateCodec.decode(Arrays.copyOf(full, cut)))
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void shouldRejectAnotherMagicVersionOrTrailingBytes() {
        byte[] full = StateCodec.encode(randomMachine(new Random(99)));
        byte[] magic = full.clone();
        magic[0] = 'X';
        assertThatThrownBy(() -> StateCodec.decode(magic)).hasMessageContaining("magic");
        byte[] version = full.clone();
        ByteBuffer.wrap(version).putInt(4, 2);
        assertThatThrownBy(() -> StateCodec.decode(version)).hasMessageContaining("version 2");
        byte[] trailing = Arrays.copyOf(full, full.length + 3);
        assertThatThrownBy(() -> StateCodec.decode(trailing)).hasMessageContaining("after its end marker");
    }

    @Test
    void shouldKeepTheTscDeadlineMsrAfterTheTsc() {
        int[] ordered = VcpuSnapshot.orderMsrs(new int[] {0x174, 0x6e0, 0x10, 0xc0000080});
        assertThat(ordered).containsExactly(0x174, 0x10, 0xc0000080, 0x6e0);
    }

    @Test
    void shouldScaleTheTscOnlyBeyond250PartsPerMillion() {
        assertThat(VcpuSnapshot.tscNeedsScaling(2_793_440, 2_793_440)).isFalse();
        assertThat(VcpuSnapshot.tscNeedsScaling(2_793_440, 2_793_440 + 600)).isFalse();
        assertThat(VcpuSnapshot.tscNeedsScaling(2_793_440, 2_793_440 + 800)).isTrue();
        assertThat(VcpuSnapshot.tscNeedsScaling(0, 2_000_000)).isFalse();
        assertThat(VcpuSnapshot.tscNeedsScaling(3_000_000, 2_000_000)).isTrue();
    }
}
