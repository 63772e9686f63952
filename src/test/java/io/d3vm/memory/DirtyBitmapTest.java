package io.d3vm.memory;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class DirtyBitmapTest {

    @Test
    void shouldIterateSetPagesInOrder() {
        DirtyBitmap b = new DirtyBitmap(200);
        b.set(0);
        b.set(63);
        b.set(64);
        b.set(199);
        assertThat(b.count()).isEqualTo(4);
        assertThat(b.nextSet(0)).isEqualTo(0);
        assertThat(b.nextSet(1)).isEqualTo(63);
        assertThat(b.nextSet(65)).isEqualTo(199);
        assertThat(b.nextSet(200)).isEqualTo(-1);
    }

    @Test
    void shouldDrainWithoutLosingBits() {
        DirtyBitmap a = new DirtyBitmap(130);
        DirtyBitmap into = new DirtyBitmap(130);
        a.set(5);
        a.set(129);
        a.drainInto(into);
        assertThat(a.count()).isZero();
        assertThat(into.get(5)).isTrue();
        assertThat(into.get(129)).isTrue();
    }

    @Test
    void shouldOrKvmStyleWordsAtAnyOffset() {
        DirtyBitmap b = new DirtyBitmap(300);
        b.orWords(64, new long[] {0b101L, 1L}, 70);
        assertThat(b.get(64)).isTrue();
        assertThat(b.get(66)).isTrue();
        assertThat(b.get(128)).isTrue();
        b.orWords(3, new long[] {1L}, 1);
        assertThat(b.get(3)).isTrue();
        assertThat(b.count()).isEqualTo(4);
        b.setAll();
        assertThat(b.count()).isEqualTo(300);
    }

    @Test
    void shouldFindSetPagesOnlyInsideTheAskedRange() {
        DirtyBitmap b = new DirtyBitmap(1000);
        b.set(5);
        b.set(130);
        b.set(999);
        assertThat(b.nextSet(0, 5)).isEqualTo(-1);
        assertThat(b.nextSet(0, 6)).isEqualTo(5);
        assertThat(b.nextSet(6, 130)).isEqualTo(-1);
        assertThat(b.nextSet(6, 131)).isEqualTo(130);
        assertThat(b.nextSet(131, 2000)).isEqualTo(999);
        assertThat(b.nextSet(500, 500)).isEqualTo(-1);
    }
}
