package io.d3vm.kvm;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;
import static org.assertj.core.api.Assertions.assertThat;

public class StructsTest {
    @Test
    void shouldHaveTheSizesAndOffsetsOfLinuxKvmH() {
        // sizeof/offsetof printed by a C program including linux/kvm.h (x86-64).
        assertThat(Structs.SREGS_SIZE).isEqualTo(312);
        assertThat(Structs.SREGS_GDT).isEqualTo(192);
        assertThat(Structs.SREGS_IDT).isEqualTo(208);
        assertThat(Structs.SREGS_CR0).isEqualTo(224);
        assertThat(Structs.SREGS_EFER).isEqualTo(264);
        assertThat(Structs.SREGS_APIC_BASE).isEqualTo(272);
        assertThat(Structs.SREGS_INTERRUPT_BITMAP).isEqualTo(280);
        assertThat(Structs.SREGS_INTERRUPT_BITMAP + 32).isEqualTo(Structs.SREGS_SIZE);
        assertThat(Structs.PIT_FLAGS_OFFSET).isEqualTo(3 * Structs.PIT_CHANNEL_SIZE);
        assertThat(KvmRun.IO_DATA_OFFSET).isEqualTo(40);
        assertThat(KvmRun.MMIO_IS_WRITE).isEqualTo(52);
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3})
    void shouldRoundTripSregsThroughTheNativeLayout(long seed) {
        Random rnd = new Random(seed);
        Sregs s = randomSregs(rnd);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(Structs.SREGS_SIZE);
            Structs.writeSregs(m, s);
            assertThat(Structs.readSregs(m)).isEqualTo(s);
            // The CS selector sits at offset 12 of the first kvm_segment, EFER at 264.
            assertThat(m.get(JAVA_SHORT_UNALIGNED, 12) & 0xffff).isEqualTo(s.cs().selector());
            assertThat(m.get(JAVA_LONG_UNALIGNED, 264)).isEqualTo(s.efer());
            assertThat(m.get(JAVA_BYTE, 19)).isEqualTo((byte) s.cs().l());
        }
    }

    @ParameterizedTest
    @ValueSource(longs = {4, 5})
    void shouldRoundTripRegsPitClockXcrsDebugRegsAndCpuid(long seed) {
        Random rnd = new Random(seed);
        try (Arena a = Arena.ofConfined()) {
            long[] v = new long[18];
            for (int i = 0; i < 18; i++) {
                v[i] = rnd.nextLong();
            }
            Regs regs = Regs.fromArray(v);
            MemorySegment m = a.allocate(Structs.REGS_SIZE);
            Structs.writeRegs(m, regs);
            assertThat(Structs.readRegs(m)).isEqualTo(regs);
            assertThat(m.get(JAVA_LONG_UNALIGNED, 128)).isEqualTo(regs.rip());

            PitState2 pit = randomPit(rnd);
            MemorySegment p = a.allocate(Structs.PIT_STATE2_SIZE);
            Structs.writePit2(p, pit);
            assertThat(Structs.readPit2(p)).isEqualTo(pit);

            ClockData clock = new ClockData(rnd.nextLong(), rnd.nextInt(), rnd.nextLong(), rnd.nextLong());
            MemorySegment c = a.allocate(Structs.CLOCK_DATA_SIZE);
            Structs.writeClock(c, clock);
            assertThat(Structs.readClock(c)).isEqualTo(clock);

            Xcrs xcrs = new Xcrs(List.of(new Xcr(0, rnd.nextLong()), new Xcr(1, rnd.nextLong())), 0);
            MemorySegment x = a.allocate(Structs.XCRS_SIZE);
            Structs.writeXcrs(x, xcrs);
            assertThat(Structs.readXcrs(x)).isEqualTo(xcrs);

            DebugRegs dr = new DebugRegs(rnd.nextLong(), rnd.nextLong(), rnd.nextLong(), rnd.nextLong(),
                    rnd.nextLong(), rnd.nextLong(), rnd.nextLong());
            MemorySegment d = a.allocate(Structs.DEBUGREGS_SIZE);
            Structs.writeDebugRegs(d, dr);
            assertThat(Structs.readDebugRegs(d)).isEqualTo(dr);

            CpuidEntry e = new CpuidEntry(rnd.nextInt(), rnd.nextInt(), 1, rnd.nextInt(), rnd.nextInt(), rnd.nextInt(), rnd.nextInt());
            MemorySegment ce = a.allocate(Structs.CPUID_ENTRY2_SIZE);
            Structs.writeCpuidEntry(ce, 0, e);
            assertThat(Structs.readCpuidEntry(ce, 0)).isEqualTo(e);
        }
    }

    static Segment randomSegment(Random r) {
        return new Segment(r.nextLong(), r.nextInt(), r.nextInt(0x10000), r.nextInt(16), r.nextInt(2), r.nextInt(4),
                r.nextInt(2), r.nextInt(2), r.nextInt(2), r.nextInt(2), r.nextInt(2), r.nextInt(2));
    }

    public static Sregs randomSregs(Random r) {
        return new Sregs(randomSegment(r), randomSegment(r), randomSegment(r), randomSegment(r), randomSegment(r),
                randomSegment(r), randomSegment(r), randomSegment(r), new DTable(r.nextLong(), r.nextInt(0x10000)),
                new DTable(r.nextLong(), r.nextInt(0x10000)), r.nextLong(), r.nextLong(), r.nextLong(), r.nextLong(),
                r.nextLong(), r.nextLong(), r.nextLong(), new long[] {r.nextLong(), r.nextLong(), r.nextLong(), r.nextLong()});
    }

    public static PitState2 randomPit(Random r) {
        List<PitChannel> ch = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            ch.add(new PitChannel(r.nextInt(), r.nextInt(0x10000), r.nextInt(256), r.nextInt(256), r.nextInt(256),
                    r.nextInt(256), r.nextInt(256), r.nextInt(256), r.nextInt(256), r.nextInt(256), r.nextInt(256),
                    r.nextInt(256), r.nextLong()));
        }
        return new PitState2(ch, r.nextInt());
    }
}
