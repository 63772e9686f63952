package io.d3vm.migration.synthetic;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.Sizes;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The parameters of a {@link SyntheticGuest}, parsed and validated once from its description:
 * <pre>
 * synthetic:mem=4G,zero=70,uniform=10,dirty-rate=5000[,wss=1G][,threads=1][,seed=1][,touched-zero=50]
 * </pre>
 * <ul>
 * <li>{@code mem} (required) guest memory, a multiple of 4 KiB (K/M/G/T are binary);</li>
 * <li>{@code zero}, {@code uniform}: percent of pages that are all zero / one repeated 8-byte word
 *     (defaults 70 and 10; the rest are random, NORMAL pages). The same mix applies to the writers;</li>
 * <li>{@code touched-zero}: percent of the initial zero pages that are populated (written with
 *     zeros, so a detector must read them: class ZERO); the others are never touched (class
 *     UNPOPULATED). Default 50, so both classes occur;</li>
 * <li>{@code dirty-rate}: pages per second the writer threads rewrite (default 0);</li>
 * <li>{@code wss}: working-set size the writers pick pages from: the first {@code wss} bytes of
 *     memory (default: all of it);</li>
 * <li>{@code threads}: writer threads (default 1); {@code seed}: content and writer seed (default 1);</li>
 * <li>{@code duplicate}: percent of the random pages (initial and written) whose content is one of
 *     {@link #TEMPLATES} fixed random pages, so that many pages share content (default 0).</li>
 * </ul>
 */
public record SyntheticSpec(long memBytes, int zeroPercent, int uniformPercent, int touchedZeroPercent, long dirtyRate,
                            long wssBytes, int threads, long seed, int duplicatePercent) {
    public static final String PREFIX = "synthetic";
    /** Distinct contents the {@code duplicate} share of random pages is drawn from. */
    public static final int TEMPLATES = 64;

    public SyntheticSpec {
        if (memBytes < GuestMemory.PAGE_SIZE || (memBytes & GuestMemory.PAGE_MASK) != 0) {
            throw new IllegalArgumentException("synthetic guest: mem=" + memBytes + " must be a positive multiple of 4096 bytes");
        }
        if (zeroPercent < 0 || uniformPercent < 0 || zeroPercent + uniformPercent > 100) {
            throw new IllegalArgumentException("synthetic guest: zero=" + zeroPercent + " plus uniform=" + uniformPercent + " must stay within 0..100 percent");
        }
        if (touchedZeroPercent < 0 || touchedZeroPercent > 100) {
            throw new IllegalArgumentException("synthetic guest: touched-zero=" + touchedZeroPercent + " must be 0..100 percent");
        }
        if (dirtyRate < 0 || dirtyRate > 10_000_000) {
            throw new IllegalArgumentException("synthetic guest: dirty-rate=" + dirtyRate + " must be 0..10000000 pages/s");
        }
        if (wssBytes < GuestMemory.PAGE_SIZE || wssBytes > memBytes || (wssBytes & GuestMemory.PAGE_MASK) != 0) {
            throw new IllegalArgumentException("synthetic guest: wss=" + wssBytes + " must be a multiple of 4096 between 4K and mem");
        }
        if (duplicatePercent < 0 || duplicatePercent > 100) {
            throw new IllegalArgumentException("synthetic guest: duplicate=" + duplicatePercent + " must be 0..100 percent");
        }
        if (threads < 1 || threads > 64) {
            throw new IllegalArgumentException("synthetic guest: threads=" + threads + " must be 1..64");
        }
    }

    /** Parses {@code synthetic:k=v,...}; every bad key or value is an {@link IllegalArgumentException} saying which. */
    public static SyntheticSpec parse(String description) {
        String d = description.trim();
        if (!d.startsWith(PREFIX + ":")) {
            throw new IllegalArgumentException("'" + description + "' is not a synthetic guest (expected synthetic:mem=4G,...)");
        }
        Map<String, String> kv = new LinkedHashMap<>();
        String body = d.substring(PREFIX.length() + 1);
        if (!body.isEmpty()) {
            for (String part : body.split(",", -1)) {
                int eq = part.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("synthetic guest: '" + part + "' is not key=value");
                }
                String k = part.substring(0, eq).trim().toLowerCase(Locale.ROOT);
                if (kv.put(k, part.substring(eq + 1).trim()) != null) {
                    throw new IllegalArgumentException("synthetic guest: " + k + " given twice");
                }
            }
        }
        for (String k : kv.keySet()) {
            if (!k.matches("mem|zero|uniform|touched-zero|dirty-rate|wss|threads|seed|duplicate")) {
                throw new IllegalArgumentException("synthetic guest: unknown key '" + k
                        + "' (keys: mem, zero, uniform, touched-zero, dirty-rate, wss, threads, seed, duplicate)");
            }
        }
        if (!kv.containsKey("mem")) {
            throw new IllegalArgumentException("synthetic guest: mem=SIZE is required (e.g. synthetic:mem=4G,zero=70,uniform=10)");
        }
        long mem = size(kv, "mem", 0);
        return new SyntheticSpec(mem, (int) number(kv, "zero", 70, 100), (int) number(kv, "uniform", 10, 100),
                (int) number(kv, "touched-zero", 50, 100), number(kv, "dirty-rate", 0, 10_000_000),
                size(kv, "wss", mem), (int) number(kv, "threads", 1, 64), number(kv, "seed", 1, Long.MAX_VALUE),
                (int) number(kv, "duplicate", 0, 100));
    }

    /** The canonical description, with every parameter, that the destination parses back. */
    public String describe() {
        return PREFIX + ":mem=" + Sizes.compact(memBytes) + ",zero=" + zeroPercent + ",uniform=" + uniformPercent
                + ",touched-zero=" + touchedZeroPercent + ",dirty-rate=" + dirtyRate + ",wss=" + Sizes.compact(wssBytes)
                + ",threads=" + threads + ",seed=" + seed + (duplicatePercent == 0 ? "" : ",duplicate=" + duplicatePercent);
    }

    /**
     * Which of the {@link #TEMPLATES} shared contents a random page gets instead of its own, given
     * hash bits not used for anything else: {@code duplicate} percent of them do; -1 for the rest.
     */
    public int template(long bits) {
        return (int) Long.remainderUnsigned(bits >>> 8, 100) < duplicatePercent ? (int) (bits >>> 56 & (TEMPLATES - 1)) : -1;
    }

    /**
     * Fills {@code p} with page {@code t}'s template: 8-byte words of letters drawn from 64 words
     * of its own, so the shared pages also compress — with zstd and with LZ4, whose 4-byte matches
     * random letters alone did not give (a page of them did not shrink under LZ4, and a test that
     * expected compressed frames failed when the dirty rounds sent no two templates together).
     */
    public void fillTemplate(java.lang.foreign.MemorySegment p, int t) {
        long s = seed * 0x2545F4914F6CDD1DL + t;
        for (long o = 0; o < GuestMemory.PAGE_SIZE; o += 8) {
            s += 0x9E3779B97F4A7C15L;
            int word = (int) (mix(s) & 63);
            p.set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, o,
                    (mix(seed * 0x9E3779B97F4A7C15L + t * 64L + word) & 0x0F0F0F0F0F0F0F0FL) + 0x6161616161616161L);
        }
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private static long size(Map<String, String> kv, String key, long dflt) {
        String v = kv.get(key);
        if (v == null) {
            return dflt;
        }
        try {
            return Sizes.parseBytes(v);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("synthetic guest: " + key + "=" + e.getMessage());
        }
    }

    private static long number(Map<String, String> kv, String key, long dflt, long max) {
        String v = kv.get(key);
        if (v == null) {
            return dflt;
        }
        try {
            long n = Long.parseLong(v);
            if (n < 0 || n > max) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("synthetic guest: " + key + "=" + v + " must be a whole number 0.." + max);
        }
    }
}
