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

    @Test
    void shouldStopWithAMessageNamingTheExitAndRipWhenTheGuestTripleFaults() throws Exception {
        // ud2 with no IDT: #UD -> #GP -> #DF -> triple fault.
        byte[] code = new GuestCode().print("x").ud2().toArray();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Vm vm = boot(code, out, 32 << 20)) {
            vm.start();
            VmOutcome o = vm.awaitOutcome(Duration.ofSeconds(20));
            assertThat(o).isInstanceOf(VmOutcome.Failed.class);
            assertThat(o.exitCode()).isNotZero();
            assertThat(o.describe()).containsAnyOf("KVM_EXIT_SHUTDOWN", "KVM_EXIT_INTERNAL_ERROR").contains("RIP 0x");
        }
    }

    @Test
    void shouldNameTheExitAndRipWhenTheGuestRunsAnInstructionKvmCannotEmulate() throws Exception {
        // popcnt rax, rbx: kvm_pvm's emulator rejects it (HOST-KVM.md); hardware KVM runs it.
        byte[] code = new GuestCode().bytes(0xf3, 0x48, 0x0f, 0xb8, 0xc3).powerOff().spin().toArray();
        try (Vm vm = boot(code, new ByteArrayOutputStream(), 32 << 20)) {
            vm.start();
            VmOutcome o = vm.awaitOutcome(Duration.ofSeconds(20));
            if (o instanceof VmOutcome.Failed f) {
                assertThat(f.exitCode()).isNotZero();
                assertThat(f.describe()).contains("KVM_EXIT_INTERNAL_ERROR").contains("emulation failure")
                        .contains("RIP 0x" + Long.toHexString(CODE))
                        .containsAnyOf("instruction bytes [f3 48 0f b8 c3", "data=[");
            } else {
                assertThat(o).isInstanceOf(VmOutcome.PowerOff.class);
            }
            System.out.println("popcnt: " + o.describe());
        }
    }

    @Test
    void shouldIgnoreUnclaimedPortsAndCountThem() throws Exception {
        byte[] code = new GuestCode().movDx(0x510).inAlDx().storeAl(0x200000).outDxAl().powerOff().spin().toArray();
        try (Vm vm = boot(code, new ByteArrayOutputStream(), 32 << 20)) {
            vm.start();
            assertThat(vm.awaitOutcome(Duration.ofSeconds(20))).isInstanceOf(VmOutcome.PowerOff.class);
            assertThat(vm.memory().slice(0x200000, 1).get(JAVA_BYTE, 0)).isEqualTo((byte) 0xff);
            assertThat(vm.ioBus().unclaimedAccesses()).isEqualTo(2);
        }
    }

    /** Counts in RAX and stores the count at 0x200000, forever: a guest whose progress the test can read. */
    static byte[] counterLoop() {
        return new GuestCode()
                .bytes(0x48, 0x31, 0xc0)                         // xor rax, rax
                .bytes(0x48, 0xff, 0xc0)                         // loop: inc rax
                .bytes(0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00) // mov [0x200000], rax
                .bytes(0xeb, 0xf3)                               // jmp loop
                .toArray();
    }

    /**
     * Auto-converge's brake: a throttled vCPU is kept out of the guest a share of each period (the
     * time is counted), keeps running in between, still pauses on demand, and a throttle of 0
     * lets it run undisturbed again.
     */
    @Test
    void shouldThrottleARunningGuestAndStillPauseIt() throws Exception {
        byte[] code = counterLoop();
        try (Vm vm = boot(code, new ByteArrayOutputStream(), 32 << 20)) {
            MemorySegment counter = vm.memory().slice(0x200000, 8);
            vm.start();
            vm.throttle(50);
            io.d3vm.testing.Awaits.until("time spent throttled", () -> vm.throttledNanos() > 0);
            io.d3vm.testing.Awaits.advances("the throttled guest's counter",
                    () -> counter.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0));
            vm.pause();
            long a = counter.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0);
            long rax = vm.captureState().vcpus().getFirst().regs().rax();
            assertThat(rax - a).as("paused while throttled: stopped between instructions").isBetween(0L, 1L);
            vm.throttle(0);
            long throttled = vm.throttledNanos();
            vm.resume();
            io.d3vm.testing.Awaits.advances("the guest's counter at full speed",
                    () -> counter.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0));
            assertThat(vm.throttledNanos()).as("no throttle sleeps after throttle 0").isEqualTo(throttled);
            assertThat(vm.outcomeNow()).isNull();
        }
    }

    @Test
    void shouldPauseASpinningGuestAndResumeIt() throws Exception {
        // Spin on a loop that keeps writing a counter to memory; pause must stop the counter.
        byte[] code = counterLoop();
        try (Vm vm = boot(code, new ByteArrayOutputStream(), 32 << 20)) {
            MemorySegment counter = vm.memory().slice(0x200000, 8);
            vm.start();
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (counter.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0) == 0 && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            vm.pauseVcpus();
            long a = counter.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0);
            // Reading the vCPU's registers runs on its own thread, which serves such calls only
            // while parked outside KVM_RUN: once it returns, the guest is provably stopped, and the
            // counter it left is RAX (stopped after the store) or RAX - 1 (between inc and store).
            long rax = vm.captureState().vcpus().getFirst().regs().rax();
            long b = counter.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0);
            assertThat(a).isPositive().isEqualTo(b);
            assertThat(rax - b).as("RAX %d against the stored counter %d", rax, b).isBetween(0L, 1L);
            vm.start();
            deadline = System.nanoTime() + 10_000_000_000L;
            while (counter.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0) == b && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertThat(counter.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0)).isGreaterThan(b);
            assertThat(vm.outcomeNow()).isNull();
        }
    }

    @Test
    void shouldSustainAPortIoLoopAndCountItsExits() throws Exception {
        // Two VMs: the first warms up the JIT on the exit path, the second is measured (printed
        // for docs/VMM.md; nothing here asserts on time).
        for (int round = 0; round < 2; round++) {
            int n = 50_000;
            byte[] code = new GuestCode().portLoop(n).powerOff().spin().toArray();
            try (Vm vm = boot(code, new ByteArrayOutputStream(), 32 << 20)) {
                long t0 = System.nanoTime();
                vm.start();
                assertThat(vm.awaitOutcome(Duration.ofSeconds(120))).isInstanceOf(VmOutcome.PowerOff.class);
                long t1 = System.nanoTime();
                assertThat(vm.exitCount()).isGreaterThanOrEqualTo(n + 1);
                assertThat(vm.ioBus().unclaimedAccesses()).isEqualTo(n);
                System.out.printf("port-I/O loop (%s): %d exits in %.1f ms = %.0f exits/s, %.1f us per exit%n",
                        round == 0 ? "warm-up" : "measured", vm.exitCount(), (t1 - t0) / 1e6,
                        vm.exitCount() / ((t1 - t0) / 1e9), (t1 - t0) / 1e3 / vm.exitCount());
            }
        }
    }
}
