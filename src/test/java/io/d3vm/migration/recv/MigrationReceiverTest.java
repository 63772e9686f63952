package io.d3vm.migration.recv;

import io.d3vm.testing.StubGuest;
import io.d3vm.memory.DirtyBitmap;
import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryDigest;
import io.d3vm.memory.MemoryLayout;
import io.d3vm.migration.MigrationException;
import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.migration.wire.AckStage;
import io.d3vm.migration.wire.Messages;
import io.d3vm.migration.wire.TestStreams;
import io.d3vm.migration.wire.Wire;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class MigrationReceiverTest {
    static final int PAGES = 64;
    static final MemoryLayout LAYOUT = MemoryLayout.flat(PAGES * 4096L);
    static final byte N = Wire.CLASS_NORMAL;
    static final byte Z = Wire.CLASS_ZERO;
    static final byte U = Wire.CLASS_UNIFORM;
    static final byte P = Wire.CLASS_UNPOPULATED;


    final List<StubGuest> built = new ArrayList<>();

    GuestFactories factoriesOver(Arena arena) {
        return factoriesInto(built);
    }

    /** Factories that build {@code test:} stub guests over fresh memory and record each in {@code built}. */
    static GuestFactories factoriesInto(List<StubGuest> built) {
        return new GuestFactories().register("test", (d, l) -> {
            StubGuest g = StubGuest.over(GuestMemory.allocate(l), "test:x");
            built.add(g);
            return g;
        });
    }

    static GuestMemory source(long seed) {
        GuestMemory m = GuestMemory.allocate(LAYOUT);
        Random r = new Random(seed);
        for (long o = 0; o < m.totalBytes(); o += 8) {
            m.regions().get(0).host().set(ValueLayout.JAVA_LONG, o, r.nextLong() | 1);
        }
        return m;
    }

    static byte[] classes(byte c, int n) {
        byte[] b = new byte[n];
        java.util.Arrays.fill(b, c);
        return b;
    }

    @Test
    void shouldClearPageReceivedEarlierWhenAZeroRecordFollows() throws Exception {
        try (GuestMemory src = source(1); Arena arena = Arena.ofConfined()) {
            // Round 1: pages 0..3 NORMAL. Round 2: page 1 ZERO, page 2 UNPOPULATED, page 10 ZERO (never received).
            // The source's memory at completion: pages 1, 2 cleared, page 10 zero; everything else zero except 0 and 3.
            byte[] stream = new TestStreams().handshake("test:x").layout(LAYOUT)
                    .pages(src, 0, classes(N, 4), new long[4]).endOfRound(1, 4, 4)
                    .pages(src, 1, new byte[] {Z, P}, new long[2]).pages(src, 10, new byte[] {Z}, new long[1]).endOfRound(2, 3, 0)
                    .state(new byte[] {7}).complete(expectedDigest(src, 0, 3), 2).go().bytes();
            StubGuest g = (StubGuest) receive(factoriesOver(arena), stream);

            assertThat(g.memory().page(1).mismatch(MemorySegment.ofArray(new byte[4096]))).isEqualTo(-1);
            assertThat(g.memory().page(2).mismatch(MemorySegment.ofArray(new byte[4096]))).isEqualTo(-1);
            assertThat(g.memory().page(0).mismatch(src.page(0))).isEqualTo(-1);
            assertThat(g.memory().page(3).mismatch(src.page(3))).isEqualTo(-1);
            boolean[] resident = new boolean[PAGES];
            g.memory().residentPages(0, PAGES, resident);
            assertThat(resident[10]).as("a ZERO record for a never-received page costs nothing").isFalse();
            assertThat(g.restored).containsExactly(7);
            assertThat(g.resumed).isTrue();
            g.memory().close();
        }
    }

    @Test
    void shouldFillUniformPagesWithTheirPattern() throws Exception {
        try (GuestMemory src = GuestMemory.allocate(LAYOUT); Arena arena = Arena.ofConfined()) {
            for (long o = 0; o < 4096 * 3; o += 8) {
                src.regions().get(0).host().set(ValueLayout.JAVA_LONG, 4096 * 5 + o, 0xCCCCCCCCCCCCCCCCL);
            }
            byte[] stream = new TestStreams().handshake("test:x").layout(LAYOUT)
                    .pages(src, 5, classes(U, 3), new long[] {0xCCCCCCCCCCCCCCCCL, 0xCCCCCCCCCCCCCCCCL, 0xCCCCCCCCCCCCCCCCL})
                    .endOfRound(1, 3, 0).state(new byte[0]).complete(MemoryDigest.compute(src, 1), 1).go().bytes();
            StubGuest g = (StubGuest) receive(factoriesOver(arena), stream);
            for (int p = 5; p < 8; p++) {
                assertThat(g.memory().page(p).mismatch(src.page(p))).isEqualTo(-1);
            }
            g.memory().close();
        }
    }

    @Test
    void shouldDiscardGuestAndRefuseWhenDigestDiffers() throws Exception {
        try (GuestMemory src = source(2); Arena arena = Arena.ofConfined()) {
            byte[] stream = new TestStreams().handshake("test:x").layout(LAYOUT)
                    .pages(src, 0, classes(N, 2), new long[2]).endOfRound(1, 2, 2)
                    .state(new byte[0]).complete(12345, 1).bytes();
            TestStreams.Replay c = new TestStreams.Replay(stream);
            MigrationReceiver r = new MigrationReceiver(factoriesOver(arena), ReceiverLimits.defaults());
            assertThatThrownBy(() -> r.receive(c)).isInstanceOf(MigrationException.class).hasMessageContaining("digest mismatch");
            assertThat(built.getFirst().shutdown).isTrue();
            assertThat(built.getFirst().resumed).isFalse();
            List<Object> replies = c.replies();
            assertThat(replies).last().isInstanceOfSatisfying(Messages.Ack.class, a -> {
                assertThat(a.ok()).isFalse();
                assertThat(a.stage()).isEqualTo(AckStage.COMPLETION);
            });
        }
    }

    /** A valid one-round migration up to and including COMPLETE (no GO): the receiver verifies and acknowledges it. */
    private static TestStreams completedWithoutGo(GuestMemory src) {
        return new TestStreams().handshake("test:x").layout(LAYOUT)
                .pages(src, 0, classes(N, 2), new long[2]).endOfRound(1, 2, 2)
                .state(new byte[] {9}).complete(expectedDigest(src, 0, 1), 1);
    }

    @Test
    void shouldAnswerSyncWithTheRoundsRebuiltSoFar() throws Exception {
        try (GuestMemory src = source(3); Arena arena = Arena.ofConfined()) {
            byte[] stream = new TestStreams().handshake("test:x").layout(LAYOUT)
                    .pages(src, 0, classes(N, 2), new long[2]).endOfRound(1, 2, 2)
                    .pages(src, 2, classes(N, 1), new long[1]).endOfRound(2, 1, 1).sync()
                    .state(new byte[] {9}).complete(expectedDigest(src, 0, 1, 2), 2).go().bytes();
            TestStreams.Replay c = new TestStreams.Replay(stream);
            StubGuest g = (StubGuest) new MigrationReceiver(factoriesOver(arena), ReceiverLimits.defaults()).receive(c);
            assertThat(c.replies()).extracting(r -> ((Messages.Ack) r).stage()).containsExactly(AckStage.SETUP, AckStage.SYNC,
                    AckStage.COMPLETION);
            assertThat(((Messages.Ack) c.replies().get(1)).digest()).as("rounds rebuilt").isEqualTo(2);
            assertThat(g.resumed).isTrue();
            g.memory().close();
        }
    }

    @Test
    void shouldRefuseSyncBeforeAnyRoundEnded() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            TestStreams.Replay c = new TestStreams.Replay(new TestStreams().handshake("test:x").layout(LAYOUT).sync().bytes());
            MigrationReceiver r = new MigrationReceiver(factoriesOver(arena), ReceiverLimits.defaults());
            assertThatThrownBy(() -> r.receive(c)).isInstanceOf(MigrationException.class).hasMessageContaining("SYNC frame before any round");
            assertThat(built.getFirst().shutdown).isTrue();
        }
    }

    @Test
    void shouldResumeOnlyWhenGoFollowsThePositiveAck() throws Exception {
        try (GuestMemory src = source(3); Arena arena = Arena.ofConfined()) {
            TestStreams.Replay c = new TestStreams.Replay(completedWithoutGo(src).go().bytes());
            StubGuest g = (StubGuest) new MigrationReceiver(factoriesOver(arena), ReceiverLimits.defaults()).receive(c);
            assertThat(g.resumed).isTrue();
            assertThat(g.shutdown).isFalse();
            assertThat(c.replies()).last().isInstanceOfSatisfying(Messages.Ack.class, a -> {
                assertThat(a.ok()).isTrue();
                assertThat(a.stage()).isEqualTo(AckStage.COMPLETION);
            });
            g.memory().close();
        }
    }

    @Test
    void shouldKeepTheVerifiedGuestPausedWhenTheConnectionEndsBeforeGo() throws Exception {
        try (GuestMemory src = source(4); Arena arena = Arena.ofConfined()) {
            TestStreams.Replay c = new TestStreams.Replay(completedWithoutGo(src).bytes());
            MigrationReceiver r = new MigrationReceiver(factoriesOver(arena), ReceiverLimits.defaults());
            assertThatThrownBy(() -> r.receive(c)).isInstanceOfSatisfying(HandoverUnconfirmedException.class, e -> {
                assertThat(e.guest()).isSameAs(built.getFirst());
                assertThat(e.getMessage()).contains("hand-over unconfirmed", "kept paused here", "neither resumed nor discarded");
            });
            StubGuest g = built.getFirst();
            assertThat(g.resumed).as("resumed without GO: the source may still run its copy").isFalse();
            assertThat(g.shutdown).as("discarded after the ACK: the source may have committed").isFalse();
            assertThat(g.restored).containsExactly(9);
            assertThat(r.state()).isInstanceOf(ReceiveState.AwaitGo.class);
            // The positive ACK went out and nothing after it (no ABORT: the source may have committed).
            assertThat(c.replies()).last().isInstanceOfSatisfying(Messages.Ack.class, a -> assertThat(a.ok()).isTrue());
            g.memory().close();
        }
    }

    @Test
    void shouldKeepTheVerifiedGuestPausedWhenSomethingOtherThanGoFollowsTheAck() throws Exception {
        try (GuestMemory src = source(5); Arena arena = Arena.ofConfined()) {
            byte[] stream = completedWithoutGo(src).endOfRound(2, 0, 0).bytes();
            MigrationReceiver r = new MigrationReceiver(factoriesOver(arena), ReceiverLimits.defaults());
            assertThatThrownBy(() -> r.receive(new TestStreams.Replay(stream))).isInstanceOf(HandoverUnconfirmedException.class)
                    .hasMessageContaining("END_OF_ROUND");
            assertThat(built.getFirst().resumed).isFalse();
            assertThat(built.getFirst().shutdown).isFalse();
            built.getFirst().memory().close();
        }
    }

    @Test
    void shouldDiscardTheGuestWhenTheSourceAbortsInsteadOfGo() throws Exception {
        try (GuestMemory src = source(6); Arena arena = Arena.ofConfined()) {
            // The source never read the ACK, resumed its own copy and said so: ours must go.
            byte[] stream = completedWithoutGo(src).abort("connection trouble; the guest keeps running here").bytes();
            MigrationReceiver r = new MigrationReceiver(factoriesOver(arena), ReceiverLimits.defaults());
            assertThatThrownBy(() -> r.receive(new TestStreams.Replay(stream))).isInstanceOf(MigrationException.class)
                    .isNotInstanceOf(HandoverUnconfirmedException.class).hasMessageContaining("the source aborted");
            assertThat(built.getFirst().resumed).isFalse();
            assertThat(built.getFirst().shutdown).isTrue();
            built.getFirst().memory().close();
        }
    }

    @Test
    void shouldRefuseLayoutAboveTheMemoryLimitBeforeAllocating() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            byte[] stream = new TestStreams().handshake("test:x").layout(MemoryLayout.flat(1L << 40)).bytes();
            TestStreams.Replay c = new TestStreams.Replay(stream);
            MigrationReceiver r = new MigrationReceiver(factoriesOver(arena), ReceiverLimits.defaults().withMaxGuestMemory(1L << 30));
            assertThatThrownBy(() -> r.receive(c)).isInstanceOf(MigrationException.class).hasMessageContaining("exceeds this receiver's limit");
            assertThat(built).isEmpty();
            assertThat(c.replies()).first().isInstanceOfSatisfying(Messages.Ack.class, a -> assertThat(a.ok()).isFalse());
        }
    }

    @Test
    void shouldRefuseUnknownGuestKinds() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            byte[] stream = new TestStreams().handshake("linux:foo").layout(LAYOUT).bytes();
            MigrationReceiver r = new MigrationReceiver(factoriesOver(arena), ReceiverLimits.defaults());
            assertThatThrownBy(() -> r.receive(new TestStreams.Replay(stream)))
                    .hasMessageContaining("does not accept 'linux' guests (it accepts: test)");
        }
    }

    @Test
    void shouldRejectFramesOutOfOrderAndDiscardTheGuest() throws Exception {
        try (GuestMemory src = source(3); Arena arena = Arena.ofConfined()) {
            byte[] pagesFirst = new TestStreams().handshake("test:x").pages(src, 0, classes(N, 1), new long[1]).bytes();
            assertThatThrownBy(() -> new MigrationReceiver(factoriesOver(arena), ReceiverLimits.defaults()).receive(new TestStreams.Replay(pagesFirst)))
                    .hasMessageContaining("unexpected PAGES frame while waiting for LAYOUT");
            byte[] stateMidRound = new TestStreams().handshake("test:x").layout(LAYOUT).pages(src, 0, classes(N, 1), new long[1])
                    .state(new byte[1]).bytes();
            assertThatThrownBy(() -> new MigrationReceiver(factoriesOver(arena), ReceiverLimits.defaults()).receive(new TestStreams.Replay(stateMidRound)))
                    .hasMessageContaining("unexpected STATE frame while in round 1");
            assertThat(built.getFirst().shutdown).isTrue();
            byte[] wrongCount = new TestStreams().handshake("test:x").layout(LAYOUT).pages(src, 0, classes(N, 1), new long[1])
                    .endOfRound(1, 2, 1).bytes();
            assertThatThrownBy(() -> new MigrationReceiver(factoriesOver(arena), ReceiverLimits.defaults()).receive(new TestStreams.Replay(wrongCount)))
                    .hasMessageContaining("counts 2 pages");
        }
    }

    @Test
    void shouldReportTheSourcesAbortReason() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            byte[] stream = new TestStreams().handshake("test:x").layout(LAYOUT).abort("guest paused by operator").bytes();
            assertThatThrownBy(() -> new MigrationReceiver(factoriesOver(arena), ReceiverLimits.defaults()).receive(new TestStreams.Replay(stream)))
                    .hasMessageContaining("source aborted the migration: guest paused by operator");
            assertThat(built.getFirst().shutdown).isTrue();
        }
    }

    /**
     * Corrupted streams — truncated at a random point, or with random bytes flipped or overwritten —
     * end in a MigrationException caused by a ProtocolException (never another exception), and never
     * write outside guest memory: the guest is carved out of a larger segment whose guard zones on
     * both sides must keep their canary bytes.
     */
    @ParameterizedTest
    @ValueSource(longs = {11, 12, 13, 14, 15, 16, 17, 18})
    void shouldFailCleanlyOnTruncatedOrGarbledStreamsWithoutWritingOutsideGuestMemory(long seed) throws Exception {
        Random rnd = new Random(seed);
        // Shared: the receiver digests guest memory on another thread.
        try (GuestMemory src = source(seed); Arena arena = Arena.ofShared()) {
            byte[] ok = validStream(src, rnd);
            for (int trial = 0; trial < 60; trial++) {
                byte[] bad = ok.clone();
                switch (trial % 3) {
                    case 0 -> bad = TestStreams.truncate(ok, rnd.nextInt(ok.length));
                    case 1 -> {
                        for (int k = 0, n = 1 + rnd.nextInt(8); k < n; k++) {
                            bad[rnd.nextInt(bad.length)] ^= (byte) (1 << rnd.nextInt(8));
                        }
                    }
                    default -> {
                        int at = rnd.nextInt(bad.length);
                        for (int k = at; k < Math.min(bad.length, at + 1 + rnd.nextInt(64)); k++) {
                            bad[k] = (byte) rnd.nextInt();
                        }
                    }
                }
                MemorySegment arenaSeg = arena.allocate(LAYOUT.totalBytes() + 2 * 8192, 4096);
                arenaSeg.fill((byte) 0x5A);
                MemorySegment guestSeg = arenaSeg.asSlice(8192, LAYOUT.totalBytes());
                guestSeg.fill((byte) 0);
                StubGuest g = StubGuest.over(GuestMemory.wrap(LAYOUT, List.of(guestSeg)), "test:x");
                GuestFactories f = new GuestFactories().register("test", (d, l) -> g);
                byte[] input = bad;
                try {
                    new MigrationReceiver(f, ReceiverLimits.defaults()).receive(new TestStreams.Replay(input));
                    // A flipped bit may land in bytes that do not matter (page data is caught by the digest,
                    // reserved padding is checked); then the migration must have completed correctly.
                    assertThat(MemoryDigest.compute(g.memory(), 1)).isEqualTo(MemoryDigest.compute(src, 1));
                } catch (MigrationException e) {
                    assertThat(e.getCause() == null || e.getCause() instanceof io.d3vm.migration.wire.ProtocolException)
                            .as("cause of %s", e).isTrue();
                    assertThat(g.resumed).isFalse();
                }
                for (long o = 0; o < 8192; o++) {
                    assertThat(arenaSeg.get(ValueLayout.JAVA_BYTE, o)).isEqualTo((byte) 0x5A);
                    assertThat(arenaSeg.get(ValueLayout.JAVA_BYTE, 8192 + LAYOUT.totalBytes() + o)).isEqualTo((byte) 0x5A);
                }
            }
        }
    }

    /** Two rounds with every class, mixed batch sizes. */
    private static byte[] validStream(GuestMemory src, Random rnd) {
        TestStreams s = new TestStreams().handshake("test:x").layout(LAYOUT);
        long normal = 0;
        for (int first = 0; first < PAGES; ) {
            int n = Math.min(PAGES - first, 1 + rnd.nextInt(16));
            byte[] c = classes(N, n);
            s.pages(src, first, c, new long[n]);
            normal += n;
            first += n;
        }
        s.endOfRound(1, PAGES, normal);
        // Round 2: rewrite a few pages of the source as zero / uniform and send them as such.
        long[] pat = new long[1];
        int rewritten = 0;
        for (int k = 0; k < 6; k++) {
            int p = rnd.nextInt(PAGES);
            byte cls = (byte) (1 + rnd.nextInt(3));
            long pattern = cls == U ? 0xFFFFFFFFFFFFFFFFL : 0;
            for (long o = 0; o < 4096; o += 8) {
                src.page(p).set(ValueLayout.JAVA_LONG, o, pattern);
            }
            pat[0] = pattern;
            s.pages(src, p, new byte[] {cls}, pat.clone());
            rewritten++;
        }
        s.endOfRound(2, rewritten, 0);
        return s.state(new byte[] {1, 2, 3}).complete(MemoryDigest.compute(src, 1), 2).go().bytes();
    }

    private static long expectedDigest(GuestMemory src, int... keep) {
        try (GuestMemory want = GuestMemory.allocate(LAYOUT)) {
            for (int p : keep) {
                want.page(p).copyFrom(src.page(p));
            }
            return MemoryDigest.compute(want, 1);
        }
    }

    private static Migratable receive(GuestFactories f, byte[] stream) throws MigrationException {
        return new MigrationReceiver(f, ReceiverLimits.defaults()).receive(new TestStreams.Replay(stream));
    }
}
