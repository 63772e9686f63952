package io.d3vm.vmm.vstate;

import io.d3vm.sys.Userfaultfd;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Post-copy's premise on this host: a guest access to a page registered with userfaultfd and not
 * yet supplied waits inside {@code KVM_RUN} until the VMM supplies it, then sees exactly the
 * supplied bytes — for a read (the page copied in) and for a write (a zero page, then written).
 */
@Tag("kvm")
class UserfaultfdKvmTest {
    static final int READ_PAGE = 0x300000;
    static final int WRITE_PAGE = 0x400000;

    @Test
    void shouldMakeAGuestAccessToAMissingPageWaitUntilTheVmmSuppliesIt() throws Exception {
        byte[] code = new GuestCode().loadAl(READ_PAGE + 5).movDx(0x3f8).outDxAl()
                .storeDword(WRITE_PAGE + 8, 0x11223344).powerOff().spin().toArray();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        List<Long> faults = new CopyOnWriteArrayList<>();
        try (Vm vm = VmTest.boot(code, out, 32 << 20);
             Userfaultfd uffd = Userfaultfd.open();
             Arena arena = Arena.ofShared()) {
            MemorySegment registered = vm.memory().slice(READ_PAGE, 2L << 20);
            uffd.register(registered);
            MemorySegment pageOfQ = arena.allocate(4096, 4096).fill((byte) 'Q');
            long base = vm.memory().slice(0, 4096).address();
            Thread server = Thread.ofPlatform().name("uffd-server").start(() -> {
                long[] addresses = new long[16];
                while (faults.size() < 2 && !Thread.currentThread().isInterrupted()) {
                    int n = uffd.awaitFaults(addresses, 100);
                    for (int i = 0; i < n; i++) {
                        long gpa = (addresses[i] & ~0xfffL) - base;
                        faults.add(gpa);
                        MemorySegment page = vm.memory().slice(gpa, 4096);
                        if (gpa == READ_PAGE) {
                            uffd.copy(page, pageOfQ);
                        } else {
                            uffd.zeroPage(page);
                        }
                    }
                }
            });
            vm.start();
            VmOutcome outcome = vm.awaitOutcome(Duration.ofSeconds(20));
            server.interrupt();
            server.join(5000);
            assertThat(outcome).isInstanceOf(VmOutcome.PowerOff.class);
            assertThat(out.toString(StandardCharsets.US_ASCII)).isEqualTo("Q");
            assertThat(faults).containsExactly((long) READ_PAGE, (long) WRITE_PAGE);
            assertThat(vm.memory().slice(WRITE_PAGE + 8, 4).get(JAVA_INT_UNALIGNED, 0)).isEqualTo(0x11223344);
        }
    }
}
