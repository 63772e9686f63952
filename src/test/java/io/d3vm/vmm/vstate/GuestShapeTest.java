package io.d3vm.vmm.vstate;

import io.d3vm.kvm.KvmTestSupport;
import io.d3vm.vmm.persist.MachineState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.ByteArrayOutputStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Every kind of KVM guest is rebuilt at a destination from its description alone. */
class GuestShapeTest {
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "test:idle,mem=64M | test | 67108864 | 1",
            "test:dirty,mem=1G,wss=64,vcpus=2 | test | 1073741824 | 2",
            "multiboot:mbk.elf,mem=128M | multiboot | 134217728 | 1",
            "multiboot:kernel.bin,mem=6G,vcpus=4 | multiboot | 6442450944 | 4",
            "linux:vmlinuz,mem=1G,vcpus=2 | linux | 1073741824 | 2"})
    void shouldReadKindMemoryAndVcpus(String description, String kind, long mem, int vcpus) {
        assertThat(GuestShape.parse(description)).isEqualTo(new GuestShape(kind, mem, vcpus));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "synthetic:mem=1G | not a KVM guest description",
            "multiboot:,mem=64M | names no kernel",
            "linux:vmlinuz | has no mem=SIZE",
            "linux:vmlinuz,mem=1G,vcpus=0 | not a vCPU count",
            "multiboot:k,mem=64M,debug=1 | has mem= and vcpus="})
    void shouldRefuseADescriptionItCannotRebuild(String description, String message) {
        assertThatThrownBy(() -> GuestShape.parse(description)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining(message);
    }

    /**
     * A Linux guest cannot boot on this host's KVM, but its destination is built the same way as
     * any: a paused VM of the description's layout and vCPUs, which takes a saved machine state.
     */
    @Test
    void shouldBuildALinuxDestinationThatRestoresASavedState() {
        var kvm = KvmTestSupport.kvm();
        try (Vm source = Vm.create(kvm, new VmConfig(X86Layout.forMemory(64L << 20), 2, new ByteArrayOutputStream(), "test:hand"));
             Vm dst = new KvmGuestFactory(kvm, 2, new ByteArrayOutputStream())
                     .createDestination("linux:vmlinuz,mem=64M,vcpus=2", X86Layout.forMemory(64L << 20), null)) {
            assertThat(dst.vcpuCount()).isEqualTo(2);
            assertThat(dst.memory().layout()).isEqualTo(X86Layout.forMemory(64L << 20));
            assertThat(dst.describe()).contains("linux:vmlinuz,mem=64M,vcpus=2");
            MachineState saved = source.captureState();
            dst.applyState(saved);
            assertThat(dst.captureState().vcpus().get(1).regs()).isEqualTo(saved.vcpus().get(1).regs());
        }
        assertThatThrownBy(() -> new KvmGuestFactory(kvm, 1, new ByteArrayOutputStream())
                .createDestination("multiboot:k,mem=64M", X86Layout.forMemory(32L << 20), null))
                .hasMessageContaining("does not match");
    }
}
