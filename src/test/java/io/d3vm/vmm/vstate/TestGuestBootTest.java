package io.d3vm.vmm.vstate;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.regex.Matcher;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.assertj.core.api.Assertions.assertThat;

/** The real test guest on KVM, in each workload (guest/README.md "Boot contract" output lines). */
@Tag("kvm")
class TestGuestBootTest {
    static final Duration WAIT = Duration.ofSeconds(60);

    @Test
    void shouldBootIdleAndTickWithStrictlyIncreasingCounter() throws Exception {
        ConsoleCapture console = new ConsoleCapture();
        try (Vm vm = TestGuestSupport.load("test:idle,mem=64M,tick-ms=200", console)) {
            vm.start();
            console.await("d3guest: boot workload=idle mem=64\\b.*", WAIT);
            Matcher a = console.await("d3guest: tick=(\\d+) .*", WAIT);
            Matcher b = console.await("d3guest: tick=(\\d+) .*", a.end(), WAIT);
            assertThat(Long.parseLong(b.group(1))).isGreaterThan(Long.parseLong(a.group(1)));
            assertThat(vm.outcomeNow()).isNull();
        }
    }

    @Test
    void shouldWriteOneHeartbeatPerTickToTheDebugPortOnlyWhenAskedTo() throws Exception {
        ConsoleCapture console = new ConsoleCapture();
        java.io.ByteArrayOutputStream beats = new java.io.ByteArrayOutputStream();
        // One byte per tick handled: exactly the guest's own tick counter (`jiffies`, in its RAM)
        // once it has powered off and nothing runs any more.
        try (Vm vm = TestGuestSupport.load("test:idle,mem=64M,hz=1000,heartbeat=1,run-seconds=1", console, beats)) {
            vm.start();
            assertThat(vm.awaitOutcome(WAIT)).as(console.text()).isInstanceOf(VmOutcome.PowerOff.class);
            vm.pauseVcpus();
            long jiffies = vm.memory().slice(TestGuestSupport.symbol("jiffies"), 8).get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0);
            assertThat(jiffies).as("ticks of one guest second").isGreaterThanOrEqualTo(1000);
            assertThat((long) beats.size()).isEqualTo(jiffies);
            assertThat(beats.toString(java.nio.charset.StandardCharsets.US_ASCII)).matches("\\.+");
        }
        java.io.ByteArrayOutputStream none = new java.io.ByteArrayOutputStream();
        try (Vm vm = TestGuestSupport.load("test:idle,mem=64M,hz=1000,run-seconds=1", new ConsoleCapture(), none)) {
            vm.start();
            assertThat(vm.awaitOutcome(WAIT)).isInstanceOf(VmOutcome.PowerOff.class);
            assertThat(none.size()).as("heartbeats without heartbeat=1").isZero();
        }
    }

    @Test
    void shouldRunTheDirtyWorkloadAndPowerOffWithExitCodeZero() throws Exception {
        ConsoleCapture console = new ConsoleCapture();
        try (Vm vm = TestGuestSupport.load("test:dirty,mem=64M,wss=8,rate=2000,run-seconds=2", console)) {
            vm.start();
            VmOutcome o = vm.awaitOutcome(WAIT);
            assertThat(o).as(console.text()).isInstanceOf(VmOutcome.PowerOff.class);
            assertThat(o.exitCode()).isZero();
            assertThat(console.text()).contains("d3guest: boot workload=dirty mem=64").contains("d3guest: tick=1 ");
        }
    }

    @Test
    void shouldPowerOffFromThePoweroffWorkload() throws Exception {
        ConsoleCapture console = new ConsoleCapture();
        try (Vm vm = TestGuestSupport.load("test:poweroff,mem=32M", console)) {
            vm.start();
            assertThat(vm.awaitOutcome(WAIT)).as(console.text()).isInstanceOf(VmOutcome.PowerOff.class);
        }
    }

    @Test
    void shouldCatchAByteFlippedInGuestMemoryFromTheVmmSide() throws Exception {
        ConsoleCapture console = new ConsoleCapture();
        try (Vm vm = TestGuestSupport.load("test:verify,mem=48M,seed=5", console)) {
            vm.start();
            Matcher pass = console.await("d3guest: verify pass=\\d+ ok", WAIT);
            // Flip one byte of the verified area (16 MiB to the end), behind the guest's back.
            long addr = (16L << 20) + 12345 * 8 + 3;
            MemorySegment b = vm.memory().slice(addr, 1);
            b.set(JAVA_BYTE, 0, (byte) ~b.get(JAVA_BYTE, 0));
            Matcher bad = console.await("d3guest: verify MISMATCH addr=0x([0-9a-f]+) expected=0x[0-9a-f]+ got=0x[0-9a-f]+.*",
                    pass.end(), WAIT);
            assertThat(Long.parseLong(bad.group(1), 16)).isEqualTo(addr & ~7L);
        }
    }
}
