package io.d3vm.migration.synthetic;

import io.d3vm.testing.Awaits;
import io.d3vm.memory.DirtyBitmap;
import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SyntheticGuestTest {

    /**
     * The pre-copy invariant on the synthetic guest: copy every page once after logging starts, then
     * repeatedly only the pages the dirty log reports, while writers run flat out; after the pause
     * and a last collection, the copy must equal memory page for page. A write the log lost would
     * leave a stale page in the copy.
     */
    @Test
    void shouldNeverLoseAWriteBetweenDirtyLogCollections() throws Exception {
        // Few pages, and a collector that keeps collecting and copying while the guest is being
        // paused: a collection then often lands inside one of the last writes, the window in which
        // marking before writing would lose the write.
        SyntheticGuest g = SyntheticGuest.create("synthetic:mem=64K,zero=30,uniform=20,dirty-rate=2000000,threads=2,seed=4");
        try (Arena arena = Arena.ofShared()) {
            GuestMemory mem = g.memory();
            MemorySegment shadow = arena.allocate(mem.totalBytes(), 4096);
            DirtyBitmap dirty = new DirtyBitmap(mem.pageCount());
            g.startDirtyLogging();
            copyAll(mem, shadow);
            long total = 0;
            for (int checkpoint = 0; checkpoint < 40; checkpoint++) {
                java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
                Thread collector = Thread.ofPlatform().start(() -> {
                    while (!stop.get()) {
                        g.collectDirtyPages(dirty);
                        copyDirty(mem, shadow, dirty);
                    }
                });
                Awaits.advances("the writers while the collector runs", g::writes);
                g.pause();
                stop.set(true);
                collector.join();
                long writes = g.writes();
                g.collectDirtyPages(dirty);
                copyDirty(mem, shadow, dirty);
                for (long p = 0; p < mem.pageCount(); p++) {
                    assertThat(shadow.asSlice(p * 4096, 4096).mismatch(mem.page(p))).as("page %d at checkpoint %d", p, checkpoint).isEqualTo(-1);
                }
                assertThat(g.writes()).as("no writes while paused").isEqualTo(writes);
                total = writes;
                g.resume();
            }
            assertThat(total).as("the writers did run").isGreaterThan(1_000);
        } finally {
            g.shutdown();
        }
    }

    @Test
    void shouldContinueTheSourcesWriteSequenceAfterRestore() {
        SyntheticGuest src = SyntheticGuest.create("synthetic:mem=1M,dirty-rate=100000,threads=2,seed=8");
        SyntheticGuest dst = null;
        try {
            while (src.writes() < 100) {
                Thread.onSpinWait();
            }
            src.pause();
            byte[] state = src.saveState();
            dst = SyntheticGuest.createDestination(src.describe(), MemoryLayout.flat(1 << 20));
            assertThat(dst.isPaused()).isTrue();
            dst.restoreState(state);
            assertThat(dst.writes()).isEqualTo(src.writes());
            assertThat(dst.saveState()).isEqualTo(state);
            SyntheticGuest other = SyntheticGuest.createDestination("synthetic:mem=1M,threads=3", MemoryLayout.flat(1 << 20));
            assertThatThrownBy(() -> other.restoreState(state)).hasMessageContaining("3 writer threads");
            other.shutdown();
        } finally {
            src.shutdown();
            if (dst != null) {
                dst.shutdown();
            }
        }
    }

    @Test
    void shouldLeaveUntouchedZeroPagesUnpopulated() {
        SyntheticGuest g = SyntheticGuest.create("synthetic:mem=4M,zero=100,uniform=0,touched-zero=0");
        try {
            boolean[] resident = new boolean[1024];
            g.memory().residentPages(0, 1024, resident);
            for (boolean r : resident) {
                assertThat(r).isFalse();
            }
        } finally {
            g.shutdown();
        }
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
            "synthetic:zero=70 | mem=SIZE is required",
            "synthetic:mem=4X | is not a size (examples: 4096",
            "synthetic:mem=4097 | must be a positive multiple of 4096",
            "synthetic:mem=1M,zero=101 | zero=101 must be a whole number 0..100",
            "synthetic:mem=1M,zero=60,uniform=50 | zero=60 plus uniform=50",
            "synthetic:mem=1M,dirty-rate=fast | dirty-rate=fast must be a whole number",
            "synthetic:mem=1M,wss=2M | wss=2097152 must be a multiple of 4096 between 4K and mem",
            "synthetic:mem=1M,threads=0 | threads=0 must be 1..64",
            "synthetic:mem=1M,colour=red | unknown key 'colour'",
            "synthetic:mem=1M,zero=1,zero=2 | zero given twice",
            "synthetic:mem=1M,junk | 'junk' is not key=value",
            "linux:mem=1M | is not a synthetic guest"})
    void shouldExplainEveryBadSpec(String spec, String message) {
        assertThatThrownBy(() -> SyntheticSpec.parse(spec)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining(message);
    }

    @Test
    void shouldRoundTripItsCanonicalDescription() {
        SyntheticSpec s = SyntheticSpec.parse("synthetic:mem=4G,zero=70,uniform=10,dirty-rate=5000,wss=1G,threads=2,seed=9,touched-zero=25");
        assertThat(SyntheticSpec.parse(s.describe())).isEqualTo(s);
        assertThat(s.memBytes()).isEqualTo(4L << 30);
    }

    private static void copyAll(GuestMemory mem, MemorySegment shadow) {
        for (long p = 0; p < mem.pageCount(); p++) {
            MemorySegment.copy(mem.page(p), 0, shadow, p * 4096, 4096);
        }
    }

    private static void copyDirty(GuestMemory mem, MemorySegment shadow, DirtyBitmap dirty) {
        for (long p = dirty.nextSet(0); p >= 0; p = dirty.nextSet(p + 1)) {
            MemorySegment.copy(mem.page(p), 0, shadow, p * 4096, 4096);
        }
        dirty.clearAll();
    }
}
