package io.d3vm.migration.detect;

import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * The physical limit a detector is measured against: reading the same bytes and doing nothing
 * but summing them. {@code d3vm analyze} and the detector benchmarks report each detector's speed
 * as a fraction of this.
 */
public final class PlainRead {
    private static final VectorSpecies<Long> SPECIES = LongVector.SPECIES_256;

    private PlainRead() {}

    /** Sum of every little-endian 8-byte word of {@code seg} (whose size is a multiple of 64). */
    public static long sum(MemorySegment seg) {
        long size = seg.byteSize();
        if ((size & 63) != 0) {
            throw new IllegalArgumentException("segment of " + size + " bytes is not a multiple of 64");
        }
        LongVector a = LongVector.zero(SPECIES);
        LongVector b = LongVector.zero(SPECIES);
        // Two independent accumulators so the adds don't serialise on one register.
        for (long o = 0; o < size; o += 64) {
            a = a.add(LongVector.fromMemorySegment(SPECIES, seg, o, ByteOrder.LITTLE_ENDIAN));
            b = b.add(LongVector.fromMemorySegment(SPECIES, seg, o + 32, ByteOrder.LITTLE_ENDIAN));
        }
        return a.add(b).reduceLanes(VectorOperators.ADD);
    }
}
