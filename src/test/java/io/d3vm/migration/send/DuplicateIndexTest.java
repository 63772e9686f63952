package io.d3vm.migration.send;

import io.d3vm.migration.wire.Wire;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** The source's duplicate index: what it references, what invalidates a reference, and its bound. */
class DuplicateIndexTest {
    static final int N = Wire.CLASS_NORMAL;
    static final int D = Wire.CLASS_DUPLICATE;

    /** {@code contents[i]} names page i's content: equal numbers, equal pages. */
    static byte[] staged(int... contents) {
        byte[] b = new byte[contents.length * Wire.PAGE_SIZE];
        for (int i = 0; i < contents.length; i++) {
            Random r = new Random(contents[i]);
            byte[] page = new byte[Wire.PAGE_SIZE];
            r.nextBytes(page);
            System.arraycopy(page, 0, b, i * Wire.PAGE_SIZE, Wire.PAGE_SIZE);
        }
        return b;
    }

    record Batch(byte[] classes, long[] origins, int[] versions, int made) {}

    static Batch apply(DuplicateIndex idx, long first, int... contents) {
        byte[] classes = new byte[contents.length];
        long[] origins = new long[contents.length];
        int[] versions = new int[contents.length];
        int made = idx.apply(first, contents.length, classes, origins, versions, staged(contents), true);
        return new Batch(classes, origins, versions, made);
    }

    @Test
    void shouldReferenceTheFirstPageThatHeldTheContentInItsVersion() {
        DuplicateIndex idx = new DuplicateIndex(64, DuplicateIndex.DEFAULT_BYTES_PER_GIB);
        Batch b = apply(idx, 0, 1, 2, 1, 3, 2);
        assertThat(b.classes()).containsExactly(N, N, D, N, D);
        assertThat(b.origins()[2]).isZero();
        assertThat(b.origins()[4]).isEqualTo(1);
        assertThat(b.versions()[2]).as("page 0 has had one entry").isEqualTo(1);
        assertThat(b.made()).isEqualTo(2);
        // A later batch still finds them.
        Batch c = apply(idx, 10, 3);
        assertThat(c.classes()).containsExactly(D);
        assertThat(c.origins()[0]).isEqualTo(3);
    }

    @Test
    void shouldMeasureItsHitRateOverThePagesItHashed() {
        DuplicateIndex idx = new DuplicateIndex(64, DuplicateIndex.DEFAULT_BYTES_PER_GIB);
        assertThat(idx.nanosPerPage()).as("nothing hashed yet").isNaN();
        apply(idx, 0, 1, 2, 1, 3, 2);
        assertThat(idx.hitRate(6)).as("5 pages hashed, fewer than asked for").isNaN();
        assertThat(idx.hitRate(5)).isEqualTo(2.0 / 5);
        byte[] unhashed = new byte[2];
        idx.apply(10, 2, unhashed, new long[2], new int[2], staged(1, 1), false); // references off: not hashed
        assertThat(idx.hitRate(5)).isEqualTo(2.0 / 5);
        assertThat(idx.nanosPerPage()).isPositive();
    }

    @Test
    void shouldForgetAnOriginOnceItIsSentAgain() {
        DuplicateIndex idx = new DuplicateIndex(64, DuplicateIndex.DEFAULT_BYTES_PER_GIB);
        apply(idx, 0, 1);
        apply(idx, 0, 7); // page 0 rewritten and re-sent: its old content is gone at the destination
        Batch b = apply(idx, 5, 1);
        assertThat(b.classes()).as("content 1 is held nowhere now").containsExactly(N);
        // Page 5 now holds content 1 in its version 1, and page 0 content 7 in its version 2.
        Batch c = apply(idx, 6, 1, 7);
        assertThat(c.classes()).containsExactly(D, D);
        assertThat(c.origins()).containsExactly(5, 0);
        assertThat(c.versions()).containsExactly(1, 2);
    }

    @Test
    void shouldCountVersionsOfEveryPageEvenWithoutReferences() {
        DuplicateIndex idx = new DuplicateIndex(64, DuplicateIndex.DEFAULT_BYTES_PER_GIB);
        apply(idx, 0, 1);
        byte[] zero = {Wire.CLASS_ZERO};
        idx.apply(0, 1, zero, new long[1], new int[1], staged(0), true); // page 0 sent ZERO
        idx.count(0, 1);                                                  // and UNPOPULATED
        Batch b = apply(idx, 3, 1);
        assertThat(b.classes()).containsExactly(N);
        byte[] normal = {(byte) N};
        idx.apply(4, 1, normal, new long[1], new int[1], staged(3), false); // not indexed: references were off
        assertThat(apply(idx, 8, 3).classes()).containsExactly(N);
    }

    @Test
    void shouldStayWithinItsBudgetAndDegradeToSendingInFull() {
        // A budget of 4 slots for a 1 GiB guest: the index forgets, it never fails or grows.
        DuplicateIndex idx = new DuplicateIndex(1 << 18, 4 * DuplicateIndex.SLOT_BYTES);
        assertThat(idx.slots()).isEqualTo(4);
        assertThat(idx.bytes()).isEqualTo(4L * DuplicateIndex.SLOT_BYTES + 4L * (1 << 18));
        int[] contents = new int[64];
        Arrays.setAll(contents, i -> 100 + i);
        apply(idx, 0, contents);
        assertThat(idx.evictions).isPositive();
        Batch again = apply(idx, 1000, contents);
        assertThat(again.made()).as("at most the slots' worth is remembered").isLessThanOrEqualTo(4);
        for (int i = 0; i < contents.length; i++) {
            if (again.classes()[i] == D) {
                assertThat(again.origins()[i]).isEqualTo(i);
            }
        }
    }

    @Test
    void shouldNameContentWithAKeyOfItsOwnPerMigration() {
        // Two indexes (two migrations) disagree on nothing they can see, but their keys differ: the
        // same content is still found by each, only within itself.
        DuplicateIndex a = new DuplicateIndex(64, DuplicateIndex.DEFAULT_BYTES_PER_GIB);
        DuplicateIndex b = new DuplicateIndex(64, DuplicateIndex.DEFAULT_BYTES_PER_GIB);
        apply(a, 0, 42);
        assertThat(apply(b, 1, 42).classes()).containsExactly(N);
        assertThat(apply(a, 1, 42).classes()).containsExactly(D);
    }
}
