package io.d3vm.memory;

import org.junit.jupiter.api.Test;

import java.lang.foreign.ValueLayout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class GuestMemoryTest {

    @Test
    void shouldAddressGuestsAboveTwoGibibytesWithLongOffsets() {
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.of(0, 1L << 30, 4L << 30, 2L << 30))) {
            assertThat(mem.pageCount()).isEqualTo((3L << 30) / 4096);
            long last = mem.pageCount() - 1;
            mem.page(last).set(ValueLayout.JAVA_LONG, 8, 0x1234L);
            assertThat(mem.gpaOfPage(last)).isEqualTo((6L << 30) - 4096);
            assertThat(mem.pageIndexOf((6L << 30) - 1)).isEqualTo(last);
            assertThat(mem.pageIndexOf(2L << 30)).isEqualTo(-1);
            assertThat(mem.slice((6L << 30) - 4096, 4096).get(ValueLayout.JAVA_LONG, 8)).isEqualTo(0x1234L);
        }
    }

    @Test
    void shouldReportOnlyTouchedPagesAsResident() {
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(64 * 4096))) {
            mem.page(3).set(ValueLayout.JAVA_BYTE, 100, (byte) 1);
            boolean[] res = new boolean[64];
            mem.residentPages(0, 64, res);
            assertThat(res[3]).isTrue();
            assertThat(res[4]).isFalse();
            mem.discardPage(3);
            mem.residentPages(0, 64, res);
            assertThat(res[3]).isFalse();
            assertThat(mem.page(3).get(ValueLayout.JAVA_BYTE, 100)).isZero();
        }
    }

    @Test
    void shouldRefuseSlicesOutsideMemory() {
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(16 * 4096))) {
            assertThatThrownBy(() -> mem.slice(15 * 4096, 8192)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> mem.page(16)).isInstanceOf(IndexOutOfBoundsException.class);
        }
    }

    @Test
    void shouldRejectOverlappingOrUnalignedLayouts() {
        assertThatThrownBy(() -> MemoryLayout.of(0, 8192, 4096, 4096)).hasMessageContaining("overlap");
        assertThatThrownBy(() -> MemoryLayout.of(1, 4096)).hasMessageContaining("aligned");
    }
}
