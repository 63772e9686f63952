package io.d3vm.vmm.boot.linux;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The MP table read back the way Linux's mpparse reads it (MP spec 1.4). */
class MpTableTest {

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 8, 64, 254})
    void shouldDescribeEveryVcpuTheIoApicAndIsaRoutingWithValidChecksums(int cpus) {
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(2L << 20))) {
            mem.slice(0x9f000, 0x61000).fill((byte) 0x5a); // stale bytes the table must not depend on
            MpTable.write(mem, cpus);

            // Linux scans the last KiB of base memory in 16-byte steps for the floating pointer.
            MemorySegment fp = mem.slice(0x9fc00, 16);
            assertThat(new String(fp.asSlice(0, 4).toArray(JAVA_BYTE))).isEqualTo("_MP_");
            assertThat(sum(fp)).isZero();
            assertThat(fp.get(JAVA_BYTE, 8)).isEqualTo((byte) 1);
            assertThat(fp.get(JAVA_BYTE, 9)).isEqualTo((byte) 4);
            assertThat(fp.get(JAVA_BYTE, 11)).as("feature1: table present, not a default config").isZero();

            long configAddr = Integer.toUnsignedLong(fp.get(JAVA_INT_UNALIGNED, 4));
            MemorySegment hdr = mem.slice(configAddr, 44);
            assertThat(new String(hdr.asSlice(0, 4).toArray(JAVA_BYTE))).isEqualTo("PCMP");
            int length = Short.toUnsignedInt(hdr.get(JAVA_SHORT_UNALIGNED, 4));
            int count = Short.toUnsignedInt(hdr.get(JAVA_SHORT_UNALIGNED, 34));
            assertThat(sum(mem.slice(configAddr, length))).isZero();
            assertThat(Integer.toUnsignedLong(hdr.get(JAVA_INT_UNALIGNED, 36))).isEqualTo(0xfee00000L);
            assertThat(configAddr + length - 0x9fc00).isEqualTo(MpTable.size(cpus));

            List<Integer> cpuIds = new ArrayList<>();
            int bsps = 0, ioapicId = -1, buses = 0;
            Set<Integer> routedIrqs = new HashSet<>();
            List<int[]> lints = new ArrayList<>();
            long off = configAddr + 44;
            for (int i = 0; i < count; i++) {
                int type = mem.slice(off, 1).get(JAVA_BYTE, 0);
                MemorySegment e = mem.slice(off, type == 0 ? 20 : 8);
                switch (type) {
                    case 0 -> {
                        cpuIds.add(Byte.toUnsignedInt(e.get(JAVA_BYTE, 1)));
                        assertThat(e.get(JAVA_BYTE, 3) & 1).as("enabled").isOne();
                        bsps += (e.get(JAVA_BYTE, 3) >> 1) & 1;
                        assertThat(e.get(JAVA_INT_UNALIGNED, 8) & 0x200).as("APIC feature").isNotZero();
                    }
                    case 1 -> {
                        buses++;
                        assertThat(new String(e.asSlice(2, 6).toArray(JAVA_BYTE))).isEqualTo("ISA   ");
                    }
                    case 2 -> {
                        ioapicId = Byte.toUnsignedInt(e.get(JAVA_BYTE, 1));
                        assertThat(e.get(JAVA_BYTE, 3) & 1).as("usable").isOne();
                        assertThat(Integer.toUnsignedLong(e.get(JAVA_INT_UNALIGNED, 4))).isEqualTo(0xfec00000L);
                    }
                    case 3 -> {
                        int srcIrq = e.get(JAVA_BYTE, 5), dst = Byte.toUnsignedInt(e.get(JAVA_BYTE, 6)), pin = e.get(JAVA_BYTE, 7);
                        assertThat(dst).isEqualTo(ioapicId);
                        assertThat(pin).as("KVM default routing: GSI = pin").isEqualTo(srcIrq);
                        routedIrqs.add(srcIrq);
                    }
                    case 4 -> lints.add(new int[] {e.get(JAVA_BYTE, 1), Byte.toUnsignedInt(e.get(JAVA_BYTE, 6)), e.get(JAVA_BYTE, 7)});
                    default -> throw new AssertionError("unknown MP entry type " + type + " at 0x" + Long.toHexString(off));
                }
                off += type == 0 ? 20 : 8;
            }
            assertThat(off).isEqualTo(configAddr + length);
            assertThat(cpuIds).hasSize(cpus).doesNotHaveDuplicates().allMatch(id -> id < cpus);
            assertThat(bsps).isOne();
            assertThat(buses).isOne();
            assertThat(ioapicId).isNotIn(cpuIds).isBetween(0, 254);
            assertThat(routedIrqs).hasSize(16).allMatch(irq -> irq >= 0 && irq < 16);
            assertThat(lints).extracting(l -> l[0] + "/" + l[1] + "/" + l[2]).containsExactly("3/0/0", "1/255/1");
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {0, -1, 255, 1000})
    void shouldRejectAVcpuCountWithoutXapicIds(int cpus) {
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(2L << 20))) {
            assertThatThrownBy(() -> MpTable.write(mem, cpus)).isInstanceOf(LinuxBootException.class)
                    .hasMessageContaining("1 to 254 vCPUs");
        }
    }

    @Test
    void shouldBeWrittenByTheLinuxLoaderForTheGuestsVcpus(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        try (GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(128L << 20))) {
            LinuxLoader.load(mem, new SyntheticBzImage().write(dir), java.util.Optional.empty(), "", 4);
            long configAddr = Integer.toUnsignedLong(mem.slice(0x9fc04, 4).get(JAVA_INT_UNALIGNED, 0));
            assertThat(new String(mem.slice(0x9fc00, 4).toArray(JAVA_BYTE))).isEqualTo("_MP_");
            assertThat(mem.slice(configAddr + 34, 2).get(JAVA_SHORT_UNALIGNED, 0)).isEqualTo((short) (4 + 1 + 1 + 16 + 2));
        }
    }

    private static int sum(MemorySegment s) {
        int sum = 0;
        for (long i = 0; i < s.byteSize(); i++) {
            sum += s.get(JAVA_BYTE, i);
        }
        return sum & 0xff;
    }
}
