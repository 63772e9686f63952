package io.d3vm.migration.fault;

import io.d3vm.memory.GuestMemory;
import io.d3vm.migration.synthetic.SyntheticGuest;
import io.d3vm.migration.synthetic.SyntheticSpec;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * An independent model of a one-writer {@link SyntheticGuest}: its initial content and the first W
 * writes of its writer, recomputed from the spec's seed. A paused guest that has made W writes must
 * hold exactly this memory — on the source after a failed migration (nothing the migration did may
 * show) and on the destination after a completed one (the writer continues the source's sequence).
 * Written from the guest's documented generator, not by calling it, so a change on either side shows.
 */
final class SyntheticModel {
    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long[] PATTERNS = {0xCCCCCCCCCCCCCCCCL, 0xFFFFFFFFFFFFFFFFL, 0x6B6B6B6B6B6B6B6BL, 0xA5A5A5A5A5A5A5A5L};

    private SyntheticModel() {}

    /**
     * Compares a paused guest with the model after {@code guest.writes()} writes; returns null when
     * equal, else which page differs.
     */
    static String mismatch(SyntheticGuest guest) {
        SyntheticSpec spec = guest.spec();
        if (spec.threads() != 1) {
            throw new IllegalArgumentException("the model follows one writer thread; the spec has " + spec.threads());
        }
        if (!guest.isPaused()) {
            throw new IllegalStateException("pause the guest first");
        }
        GuestMemory mem = guest.memory();
        long pages = mem.pageCount();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment model = arena.allocate(pages * 4096, 4096);
            for (long p = 0; p < pages; p++) {
                initPage(spec, model.asSlice(p * 4096, 4096), p);
            }
            long wss = spec.wssBytes() >>> 12;
            long rng = mix(spec.seed() * 0x9E3779B97F4A7C15L + 1);
            long writes = guest.writes();
            for (long w = 0; w < writes; w++) {
                rng = next(rng);
                long page = Long.remainderUnsigned(mix(rng), wss);
                rng = next(rng);
                long r2 = mix(rng);
                int pick = (int) Long.remainderUnsigned(r2, 100);
                MemorySegment pg = model.asSlice(page * 4096, 4096);
                if (pick < spec.zeroPercent()) {
                    pg.fill((byte) 0);
                } else if (pick < spec.zeroPercent() + spec.uniformPercent()) {
                    fillPattern(pg, PATTERNS[(int) ((r2 >>> 32) & 3)]);
                } else {
                    rng = next(rng);
                    int t = spec.template(r2);
                    if (t >= 0) {
                        spec.fillTemplate(pg, t);
                    } else {
                        fillRandom(pg, mix(rng));
                    }
                }
            }
            for (long p = 0; p < pages; p++) {
                if (mem.page(p).mismatch(model.asSlice(p * 4096, 4096)) >= 0) {
                    return "page " + p + " differs from the model after " + writes + " writes";
                }
            }
            return null;
        }
    }

    private static void initPage(SyntheticSpec spec, MemorySegment p, long page) {
        long h = mix(spec.seed() ^ mix(page + 0x51ED27L));
        int pick = (int) Long.remainderUnsigned(h, 100);
        if (pick < spec.zeroPercent()) {
            return; // zero, touched or not
        }
        if (pick < spec.zeroPercent() + spec.uniformPercent()) {
            fillPattern(p, PATTERNS[(int) ((h >>> 40) & 3)]);
        } else {
            int t = spec.template(h);
            if (t >= 0) {
                spec.fillTemplate(p, t);
            } else {
                fillRandom(p, h);
            }
        }
    }

    private static void fillPattern(MemorySegment p, long pattern) {
        for (long o = 0; o < 4096; o += 8) {
            p.set(WORD, o, pattern);
        }
    }

    private static void fillRandom(MemorySegment p, long seed) {
        long s = seed;
        for (long o = 0; o < 4096; o += 8) {
            s = next(s);
            p.set(WORD, o, mix(s));
        }
    }

    private static long next(long s) {
        return s + 0x9E3779B97F4A7C15L;
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
