package io.d3vm.migration.recv;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryDigest;
import io.d3vm.memory.MemoryLayout;
import io.d3vm.migration.MigrationException;
import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.wire.PageCodec;
import io.d3vm.migration.wire.TestStreams;
import io.d3vm.migration.wire.Wire;
import io.d3vm.testing.StubGuest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The destination's half of duplicate references and compressed PAGES: what resolves, and that
 * every reference to content this side does not hold, and every lying compressed frame, is a
 * protocol error that discards the half-received guest.
 */
class SavingsReceiveTest {
    static final int PAGES = 64;
    static final MemoryLayout LAYOUT = MemoryLayout.flat(PAGES * 4096L);
    static final int FEATURES = Wire.FEATURE_DIGEST | Wire.FEATURE_DUPLICATES | Wire.FEATURE_LZ4 | Wire.FEATURE_ZSTD;

    final List<StubGuest> built = new ArrayList<>();

    GuestFactories factories() {
        return MigrationReceiverTest.factoriesInto(built);
    }

    /** Pages of random words (incompressible), except pages 32.. which hold text-like compressible bytes. */
    static GuestMemory source(long seed) {
        GuestMemory m = GuestMemory.allocate(LAYOUT);
        Random r = new Random(seed);
        for (long o = 0; o < 32 * 4096L; o += 8) {
            m.regions().get(0).host().set(ValueLayout.JAVA_LONG, o, r.nextLong() | 1);
        }
        for (long o = 32 * 4096L; o < m.totalBytes(); o++) {
            m.regions().get(0).host().set(ValueLayout.JAVA_BYTE, o, (byte) ('a' + r.nextInt(4)));
        }
        return m;
    }

    static byte[] normal(int n) {
        return new byte[n]; // CLASS_NORMAL is 0
    }

    @Test
    void shouldRebuildDuplicatePagesFromTheirOrigins() throws Exception {
        try (GuestMemory src = source(1)) {
            // Pages 5 and 6 hold page 0's and page 1's content at the source.
            src.page(5).copyFrom(src.page(0));
            src.page(6).copyFrom(src.page(1));
            byte[] stream = new TestStreams().handshake("test:x", FEATURES).layout(LAYOUT)
                    .pages(src, 0, normal(2), new long[2])
                    .references(src, 5, new long[] {0, 1}, new int[] {1, 1}).endOfRound(1, 4, 2)
                    .state(new byte[0]).complete(digestOf(src, 0, 1, 5, 6), 1).go().bytes();
            StubGuest g = (StubGuest) new MigrationReceiver(factories(), ReceiverLimits.defaults()).receive(new TestStreams.Replay(stream));
            assertThat(g.memory().page(5).mismatch(src.page(0))).isEqualTo(-1);
            assertThat(g.memory().page(6).mismatch(src.page(1))).isEqualTo(-1);
            assertThat(g.resumed).isTrue();
            g.memory().close();
        }
    }

    @Test
    void shouldRefuseAReferenceToAnOriginRewrittenSinceItsVersion() {
        try (GuestMemory src = source(2)) {
            // Page 0 sent twice (version 2 here): a reference to its version 1 names content this side no longer holds.
            byte[] stream = new TestStreams().handshake("test:x", FEATURES).layout(LAYOUT)
                    .pages(src, 0, normal(1), new long[1]).endOfRound(1, 1, 1)
                    .pages(src, 0, normal(1), new long[1]).references(src, 7, new long[] {0}, new int[] {1}).endOfRound(2, 2, 1)
                    .bytes();
            assertRefused(stream, "names page 0 in version 1, but this destination holds version 2");
        }
    }

    @Test
    void shouldRefuseAReferenceToAPageThatHoldsNoReceivedContent() {
        try (GuestMemory src = source(3)) {
            byte[] zero = {Wire.CLASS_ZERO};
            byte[] stream = new TestStreams().handshake("test:x", FEATURES).layout(LAYOUT)
                    .pages(src, 3, zero, new long[1]).references(src, 7, new long[] {3}, new int[] {1}).endOfRound(1, 2, 0).bytes();
            assertRefused(stream, "holds no received content");
        }
    }

    @Test
    void shouldRefuseReferencesOutsideGuestMemoryOrUnoffered() {
        try (GuestMemory src = source(4)) {
            byte[] outside = new TestStreams().handshake("test:x", FEATURES).layout(LAYOUT)
                    .pages(src, 0, normal(1), new long[1]).references(src, 7, new long[] {PAGES}, new int[] {1}).bytes();
            assertRefused(outside, "outside guest memory of 64 pages");
            byte[] unoffered = new TestStreams().handshake("test:x", Wire.FEATURE_DIGEST).layout(LAYOUT)
                    .pages(src, 0, normal(1), new long[1]).references(src, 7, new long[] {0}, new int[] {1}).bytes();
            assertRefused(unoffered, "did not offer duplicates");
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {Wire.CODEC_LZ4, Wire.CODEC_ZSTD})
    void shouldInflateCompressedPages(int code) throws Exception {
        try (GuestMemory src = source(5); PageCodec codec = PageCodec.ofCode(code)) {
            byte[] stream = new TestStreams().handshake("test:x", FEATURES).layout(LAYOUT)
                    .compressedPages(src, 32, 8, codec, code, 0).endOfRound(1, 8, 8)
                    .state(new byte[0]).complete(digestOf(src, 32, 33, 34, 35, 36, 37, 38, 39), 1).go().bytes();
            assertThat(stream.length).as("the compressible pages crossed smaller").isLessThan(8 * 4096);
            StubGuest g = (StubGuest) new MigrationReceiver(factories(), ReceiverLimits.defaults()).receive(new TestStreams.Replay(stream));
            for (int p = 32; p < 40; p++) {
                assertThat(g.memory().page(p).mismatch(src.page(p))).isEqualTo(-1);
            }
            g.memory().close();
        }
    }

    @Test
    void shouldRefuseCompressedPagesThatLie() {
        try (GuestMemory src = source(6); PageCodec zstd = PageCodec.ofCode(Wire.CODEC_ZSTD)) {
            assertRefused(new TestStreams().handshake("test:x", FEATURES).layout(LAYOUT)
                    .compressedPages(src, 32, 4, zstd, Wire.CODEC_ZSTD, -4096).bytes(), "claims 12288 raw bytes; its runs describe 16384");
            assertRefused(new TestStreams().handshake("test:x", FEATURES).layout(LAYOUT)
                    .compressedPages(src, 32, 4, zstd, 9, 0).bytes(), "codec 9, which the handshake did not offer");
            assertRefused(new TestStreams().handshake("test:x", FEATURES).layout(LAYOUT)
                    .compressedPages(src, 32, 4, zstd, Wire.CODEC_LZ4, 0).bytes(), "LZ4 page data is malformed");
            assertRefused(new TestStreams().handshake("test:x", Wire.FEATURE_DIGEST | Wire.FEATURE_LZ4).layout(LAYOUT)
                    .compressedPages(src, 32, 4, zstd, Wire.CODEC_ZSTD, 0).bytes(), "which the handshake did not offer");
            assertRefused(new TestStreams().handshake("test:x", Wire.FEATURE_DIGEST).layout(LAYOUT)
                    .compressedPages(src, 32, 4, zstd, Wire.CODEC_ZSTD, 0).bytes(), "the handshake offered no codec");
        }
    }

    private void assertRefused(byte[] stream, String why) {
        built.clear();
        TestStreams.Replay c = new TestStreams.Replay(stream);
        assertThatThrownBy(() -> new MigrationReceiver(factories(), ReceiverLimits.defaults()).receive(c))
                .isInstanceOf(MigrationException.class).hasMessageContaining(why);
        assertThat(built).allSatisfy(g -> {
            assertThat(g.resumed).isFalse();
            assertThat(g.shutdown).as("the half-received guest is discarded").isTrue();
        });
    }

    private static long digestOf(GuestMemory src, int... keep) {
        try (GuestMemory want = GuestMemory.allocate(LAYOUT)) {
            for (int p : keep) {
                want.page(p).copyFrom(src.page(p));
            }
            return MemoryDigest.compute(want, 1);
        }
    }
}
