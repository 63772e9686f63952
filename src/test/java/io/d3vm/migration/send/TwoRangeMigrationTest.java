package io.d3vm.migration.send;

import io.d3vm.testing.StubGuest;
import io.d3vm.memory.DirtyBitmap;
import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryDigest;
import io.d3vm.memory.MemoryLayout;
import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.migration.recv.MigrationReceiver;
import io.d3vm.migration.recv.ReceiverLimits;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.transport.Connection;
import io.d3vm.migration.transport.Listener;
import io.d3vm.migration.transport.TcpTransport;
import org.junit.jupiter.api.Test;

import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A guest with two memory ranges and a hole between them (like a VM's RAM below and above the
 * 4 GiB PCI hole): batches must never cross a range, including a dirty run whose global page
 * indices continue from the end of one range into the start of the next.
 */
class TwoRangeMigrationTest {
    static final MemoryLayout LAYOUT = MemoryLayout.of(0, 4L << 20, 1L << 32, 4L << 20);
    static final int RANGE0_PAGES = (4 << 20) / 4096;

    /** A source whose "writes during round 1" are scripted: they land in the first dirty collection. */
    static class ScriptedGuest extends StubGuest {
        /** A destination: zeroed memory of the layout. */
        ScriptedGuest(MemoryLayout layout) {
            super(GuestMemory.allocate(layout), "two:ranges");
            savedState(new byte[] {42});
        }

        /** The source: random, uniform and zero pages in both ranges. */
        ScriptedGuest() {
            this(LAYOUT);
            Random r = new Random(5);
            for (long p = 0; p < memory().pageCount(); p++) {
                if (p % 3 == 0) {
                    for (long o = 0; o < 4096; o += 8) {
                        memory().page(p).set(ValueLayout.JAVA_LONG, o, r.nextLong());
                    }
                } else if (p % 3 == 1) {
                    memory().page(p).fill((byte) 0xCC);
                }
            }
        }

        @Override
        public void shutdown() {
            super.shutdown();
            memory().close();
        }

        @Override
        public void collectDirtyPages(DirtyBitmap into) {
            if (collections++ == 0) {
                // Rewrite the last 3 pages of range 0 and the first 3 of range 1: one run of
                // global pages that spans the hole. One becomes zero, which must clear it.
                for (long p = RANGE0_PAGES - 3; p < RANGE0_PAGES + 3; p++) {
                    memory().page(p).fill(p == RANGE0_PAGES ? 0 : (byte) p);
                    into.set(p);
                }
            }
        }
    }

    @Test
    void shouldMigrateAcrossTheHoleWithoutABatchCrossingARange() throws Exception {
        TcpTransport tcp = new TcpTransport();
        ScriptedGuest src = new ScriptedGuest();
        long[] destDigest = new long[1];
        GuestFactories f = new GuestFactories().register("two", (d, l) -> new ScriptedGuest(l) {
            @Override public void resume() { destDigest[0] = MemoryDigest.compute(memory(), 1); }
        });
        try (Listener l = tcp.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            CompletableFuture<Void> rx = CompletableFuture.runAsync(() -> {
                try (Connection c = l.accept()) {
                    new MigrationReceiver(f, ReceiverLimits.defaults()).receive(c).shutdown();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            long expected;
            // Expected after the scripted writes: compute on a copy of the final content.
            try (GuestMemory want = GuestMemory.allocate(LAYOUT)) {
                for (long p = 0; p < want.pageCount(); p++) {
                    want.page(p).copyFrom(src.memory().page(p));
                }
                for (long p = RANGE0_PAGES - 3; p < RANGE0_PAGES + 3; p++) {
                    want.page(p).fill(p == RANGE0_PAGES ? 0 : (byte) p);
                }
                expected = MemoryDigest.compute(want, 1);
            }
            MigrationReport rep = new MigrationSender(src, SendOptions.defaults().withDetector("full"))
                    .migrate(tcp, l.localAddress(), 5000);
            rx.get(30, TimeUnit.SECONDS);
            assertThat(rep.digestMatch).isTrue();
            assertThat(rep.digest).isEqualTo(expected);
            assertThat(destDigest[0]).isEqualTo(expected);
            assertThat(rep.rounds.get(1).pages()).isEqualTo(6);
            assertThat(src.shutdown).isTrue();
        }
    }
}
