package io.d3vm.vmm.vstate;

import io.d3vm.testing.Awaits;
import io.d3vm.vmm.persist.MachineState;
import io.d3vm.vmm.persist.StateCodec;
import io.d3vm.vmm.persist.VcpuState;

import io.d3vm.kvm.KvmTestSupport;
import io.d3vm.memory.DirtyBitmap;
import io.d3vm.memory.GuestMemory;
import io.d3vm.migration.guest.Migratable;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.regex.Matcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The KVM VM as a Migratable: dirty log, save/restore into a second VM in this process. */
@Tag("kvm")
class MigrationTest {
    static final Duration WAIT = Duration.ofSeconds(60);

    static void copyMemory(GuestMemory from, GuestMemory to) {
        for (int i = 0; i < from.regions().size(); i++) {
            MemorySegment.copy(from.regions().get(i).host(), 0, to.regions().get(i).host(), 0, from.regions().get(i).size());
        }
    }

    /** Waits for a console line; on timeout the error also says how the VM ended (if it did). */
    static Matcher awaitOrExplain(ConsoleCapture console, Vm vm, String regex, int from) throws InterruptedException {
        try {
            return console.await(regex, from, Duration.ofSeconds(20));
        } catch (AssertionError e) {
            String where = "";
            if (vm.outcomeNow() == null) {
                vm.pause();
                VcpuState v = vm.captureState().vcpus().getFirst();
                where = String.format(" vCPU 0: mp_state %d, RIP 0x%x, RFLAGS 0x%x, events %s;", v.mpState(),
                        v.regs().rip(), v.regs().rflags(), v.events());
            }
            throw new AssertionError("VM outcome: " + vm.outcomeNow() + ", KVM exits " + vm.exitCount() + ";" + where
                    + " " + e.getMessage(), e);
        }
    }

    @Test
    void shouldContinueTheTickCounterInASecondVmAfterSaveAndRestore() throws Exception {
        ConsoleCapture srcConsole = new ConsoleCapture();
        ConsoleCapture dstConsole = new ConsoleCapture();
        try (Vm src = TestGuestSupport.load("test:idle,mem=64M,tick-ms=100", srcConsole)) {
            src.start();
            Matcher last = srcConsole.await("d3guest: tick=(\\d+) .*", WAIT);
            last = srcConsole.await("d3guest: tick=(\\d+) .*", last.end(), WAIT);
            src.pause();
            // The last complete tick line the source printed.
            Matcher m = java.util.regex.Pattern.compile("(?m)^d3guest: tick=(\\d+) ").matcher(srcConsole.text());
            long lastTick = 0;
            while (m.find()) {
                lastTick = Long.parseLong(m.group(1));
            }
            byte[] state = src.saveState();

            Migratable dst = new KvmGuestFactory(KvmTestSupport.kvm(), 1, dstConsole)
                    .createDestination(src.describe(), src.memory().layout());
            try {
                copyMemory(src.memory(), dst.memory());
                dst.restoreState(state);
                src.shutdown();
                dst.resume();
                Matcher next = awaitOrExplain(dstConsole, (Vm) dst, "d3guest: tick=(\\d+) .*", 0);
                assertThat(Long.parseLong(next.group(1))).isEqualTo(lastTick + 1);
                Matcher after = dstConsole.await("d3guest: tick=(\\d+) .*", next.end(), WAIT);
                assertThat(Long.parseLong(after.group(1))).isEqualTo(lastTick + 2);
                assertThat(dstConsole.text()).doesNotContain("d3guest: boot");
            } finally {
                dst.shutdown();
            }
        }
    }

    @Test
    void shouldKeepVerifyingWithoutMismatchAfterRestore() throws Exception {
        ConsoleCapture srcConsole = new ConsoleCapture();
        ConsoleCapture dstConsole = new ConsoleCapture();
        try (Vm src = TestGuestSupport.load("test:verify,mem=48M,seed=21", srcConsole)) {
            src.start();
            srcConsole.await("d3guest: verify pass=\\d+ ok", WAIT);
            src.pause();
            byte[] state = src.saveState();
            try (Vm dst = (Vm) new KvmGuestFactory(KvmTestSupport.kvm(), 1, dstConsole)
                    .createDestination(src.describe(), src.memory().layout())) {
                copyMemory(src.memory(), dst.memory());
                dst.restoreState(state);
                dst.resume();
                Matcher a = dstConsole.await("d3guest: verify pass=(\\d+) ok", WAIT);
                dstConsole.await("d3guest: verify pass=(\\d+) ok", a.end(), WAIT);
                assertThat(dstConsole.text()).doesNotContain("MISMATCH").doesNotContain("d3guest: boot");
                // Saving the destination again gives the same kind of state (it is a full VM now).
                dst.pause();
                assertThat(StateCodec.decode(dst.saveState()).vcpus()).hasSize(1);
            }
        }
    }

    @Test
    void shouldReportGuestWritesAndVmmWritesInTheDirtyLogAndClearIt() throws Exception {
        ConsoleCapture console = new ConsoleCapture();
        try (Vm vm = TestGuestSupport.load("test:dirty,mem=64M,wss=4,rate=20000", console)) {
            vm.start();
            console.await("d3guest: dirty .*", WAIT);
            vm.startDirtyLogging();
            DirtyBitmap first = new DirtyBitmap(vm.memory().pageCount());
            // The working set lives from 16 MiB (4 MiB: 1024 pages); the guest rewrites it at 20000 pages/s.
            long workStart = (16L << 20) >> 12;
            Awaits.until("the guest's writes to its working set in the dirty log", () -> {
                vm.collectDirtyPages(first);
                long p = first.nextSet(workStart);
                return p >= 0 && p < workStart + 1024;
            });

            vm.pause();
            DirtyBitmap drain = new DirtyBitmap(vm.memory().pageCount());
            vm.collectDirtyPages(drain);
            DirtyBitmap quiet = new DirtyBitmap(vm.memory().pageCount());
            vm.collectDirtyPages(quiet);
            assertThat(quiet.count()).as("a paused guest writes nothing; the log was cleared").isZero();

            long gpa = 40L << 20;
            vm.vmmWrite(gpa, new byte[] {1, 2, 3});
            DirtyBitmap own = new DirtyBitmap(vm.memory().pageCount());
            vm.collectDirtyPages(own);
            assertThat(own.count()).isEqualTo(1);
            assertThat(own.get(gpa >> 12)).isTrue();
            vm.stopDirtyLogging();
            assertThatThrownBy(() -> vm.collectDirtyPages(own)).hasMessageContaining("not on");
            vm.resume();
            console.await("d3guest: tick=\\d+ .*", WAIT);
        }
    }

    @Test
    void shouldPauseSaveAndRestoreAVmWhoseSecondVcpuWaitsForStartup() throws Exception {
        // vCPU 1 never gets an INIT/SIPI: it sits in KVM_RUN (UNINITIALIZED) and must still pause and save.
        // Prints "A", then counts in RAX and stores the count at 0x200000, forever: the counter
        // proves a restored vCPU runs, without waiting for a time that it might not need.
        int loop = new GuestCode().print("A").bytes(0x48, 0x31, 0xc0).toArray().length;
        byte[] code = new GuestCode().print("A")
                .bytes(0x48, 0x31, 0xc0)                         // xor rax, rax
                .bytes(0x48, 0xff, 0xc0)                         // loop: inc rax
                .bytes(0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00) // mov [0x200000], rax
                .bytes(0xeb, 0xf3)                               // jmp loop
                .toArray();
        ConsoleCapture console = new ConsoleCapture();
        try (Vm src = Vm.create(KvmTestSupport.kvm(), new VmConfig(X86Layout.forMemory(32 << 20), 2, console, "test:hand"))) {
            MemorySegment.copy(code, 0, src.memory().slice(VmTest.CODE, code.length), java.lang.foreign.ValueLayout.JAVA_BYTE, 0, code.length);
            src.setUpBootVcpu(io.d3vm.vmm.boot.LongMode.setUp(src.memory(), VmTest.CODE), 0);
            src.start();
            Awaits.until("the guest's \"A\" on the console", () -> console.text().equals("A"));
            src.pause();
            MachineState s = src.captureState();
            assertThat(s.vcpus()).hasSize(2);
            assertThat(s.vcpus().get(1).mpState()).isEqualTo(1); // KVM_MP_STATE_UNINITIALIZED
            // Each vCPU reports its own APIC ID through CPUID leaf 1 (EBX[31:24]).
            for (int i = 0; i < 2; i++) {
                int id = i;
                assertThat(s.vcpus().get(i).cpuid()).anySatisfy(e -> {
                    assertThat(e.function()).isEqualTo(1);
                    assertThat(e.ebx() >>> 24).isEqualTo(id);
                });
            }
            try (Vm dst = Vm.create(KvmTestSupport.kvm(), new VmConfig(src.memory().layout(), 2, new ConsoleCapture(), "test:hand"))) {
                copyMemory(src.memory(), dst.memory());
                dst.applyState(s);
                MemorySegment counter = dst.memory().slice(0x200000, 8);
                dst.resume();
                Awaits.advances("the restored guest's counter",
                        () -> counter.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0));
                dst.pause();
                assertThat(dst.captureState().vcpus().get(0).regs().rip()).as("vCPU 0 runs in its loop")
                        .isBetween((long) VmTest.CODE + loop, (long) VmTest.CODE + code.length - 1);
                assertThat(dst.captureState().vcpus().get(1).mpState()).isEqualTo(1);
                assertThat(dst.outcomeNow()).isNull();
            }
        }
    }

    /** Copies every page set in {@code dirty} from one guest memory to the other. */
    static long copyPages(GuestMemory from, GuestMemory to, DirtyBitmap dirty) {
        long n = 0;
        for (long p = dirty.nextSet(0); p >= 0; p = dirty.nextSet(p + 1)) {
            MemorySegment.copy(from.page(p), 0, to.page(p), 0, GuestMemory.PAGE_SIZE);
            n++;
        }
        return n;
    }

    @Test
    void shouldMigrateARunningVerifyGuestThroughDirtyLogRoundsWithoutLosingAWrite() throws Exception {
        // A pre-copy in one process: full copy while the guest runs, three rounds of dirty pages,
        // pause, the last dirty pages, state. The verify workload keeps rewriting part of its memory
        // and checks all of it, so a write the dirty log lost would show as a MISMATCH.
        ConsoleCapture srcConsole = new ConsoleCapture();
        ConsoleCapture dstConsole = new ConsoleCapture();
        try (Vm src = TestGuestSupport.load("test:verify,mem=48M,seed=77", srcConsole)) {
            src.start();
            srcConsole.await("d3guest: verify pass=\\d+ ok", WAIT);
            try (Vm dst = (Vm) new KvmGuestFactory(KvmTestSupport.kvm(), 1, dstConsole)
                    .createDestination(src.describe(), src.memory().layout())) {
                src.startDirtyLogging();
                DirtyBitmap all = new DirtyBitmap(src.memory().pageCount());
                all.setAll();
                copyPages(src.memory(), dst.memory(), all);
                long[] perRound = new long[3];
                for (int round = 0; round < 3; round++) {
                    DirtyBitmap d = new DirtyBitmap(src.memory().pageCount());
                    Awaits.until("pages the running guest dirtied in round " + (round + 1), () -> {
                        src.collectDirtyPages(d);
                        return d.count() > 0;
                    });
                    perRound[round] = copyPages(src.memory(), dst.memory(), d);
                }
                src.pause();
                DirtyBitmap last = new DirtyBitmap(src.memory().pageCount());
                src.collectDirtyPages(last);
                copyPages(src.memory(), dst.memory(), last);
                byte[] state = src.saveState();
                src.stopDirtyLogging();
                assertThat(java.util.Arrays.stream(perRound).min().orElseThrow()).as("the running guest dirtied pages every round").isPositive();
                for (int i = 0; i < src.memory().regions().size(); i++) {
                    assertThat(dst.memory().regions().get(i).host().mismatch(src.memory().regions().get(i).host()))
                            .as("destination memory equals the paused source's").isEqualTo(-1L);
                }
                dst.restoreState(state);
                src.shutdown();
                dst.resume();
                Matcher a = awaitOrExplain(dstConsole, dst, "d3guest: verify pass=(\\d+) ok", 0);
                awaitOrExplain(dstConsole, dst, "d3guest: verify pass=(\\d+) ok", a.end());
                assertThat(dstConsole.text()).doesNotContain("MISMATCH").doesNotContain("d3guest: boot");
            }
        }
    }
}
