package io.d3vm.migration.send;

import io.d3vm.migration.wire.Wire;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Arrays;

/**
 * The source's memory of what the destination holds, so that a NORMAL page whose exact content the
 * destination already has crosses as a 16-byte reference (a DUPLICATE run, {@link Wire}) instead of
 * 4096 bytes.
 *
 * <p><b>Identity.</b> Content is named by a keyed 128-bit hash: HMAC-SHA256 from the JDK, truncated
 * to 128 bits, under a key drawn from {@link SecureRandom} per migration. The guest controls its
 * memory; with an unkeyed or 64-bit hash it could make two different pages collide and have one
 * rebuilt as the other. The hash is taken from a copy of the page (the staged bytes that are then
 * encoded), never from live memory, so the index names exactly what crossed.
 *
 * <p><b>Versions.</b> Both ends count, per page, the PAGES entries that page has had this migration
 * (every class counts, in batch order). An index entry remembers the origin's version when it
 * was sent; a reference is made only while the origin still has that version, so a page re-sent or
 * rebuilt since invalidates every entry naming it, on both sides, with no reverse map. The
 * destination refuses a reference whose version it does not hold (a protocol error: the migration
 * aborts and the source resumes).
 *
 * <p><b>Bound.</b> The table has a fixed number of slots, sized from a byte budget per GiB of
 * guest; it never grows. A full probe window overwrites one of its slots (chosen by the new key's
 * high bits), so a busy index forgets and pages go in full: degraded, never failed. Not thread-safe: the classifying thread
 * owns it.
 */
final class DuplicateIndex {
    /** Default table budget: 8 MiB per GiB of guest (every page of a guest's memory could be indexed). */
    static final long DEFAULT_BYTES_PER_GIB = 8L << 20;
    /** Bytes a slot costs: two key halves, the origin page, its version. */
    static final int SLOT_BYTES = 8 + 8 + 8 + 4;
    private static final int PROBES = 4;
    /** Throw-away hashes that compile HMAC-SHA256 ({@link #warmUp}): 10,000 reached full speed standalone. */
    static final int WARM_UP_HASHES = 20_000;
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED;

    private final Mac mac;
    private final byte[] tag = new byte[32];
    private final long[] keyHi;
    private final long[] keyLo;
    /** Origin page of each slot, -1 when empty. */
    private final long[] origin;
    private final int[] originVersion;
    private final int mask;
    /** Per page: how many PAGES entries it has had in this migration (wraps; compared for equality only). */
    private final int[] versions;
    private final MemorySegment tagView = MemorySegment.ofArray(tag);

    long hits;
    /** NORMAL pages hashed (looked up, then made references or indexed). */
    long hashed;
    long evictions;
    long hashNanos;

    DuplicateIndex(long pageCount, long bytesPerGib) {
        if (pageCount < 1 || pageCount > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("guest of " + pageCount + " pages");
        }
        long gib = Math.max(1, (pageCount * Wire.PAGE_SIZE + (1L << 30) - 1) >> 30);
        long slots = Long.highestOneBit(Math.max(PROBES, Math.min(1L << 28, bytesPerGib * gib / SLOT_BYTES)));
        keyHi = new long[(int) slots];
        keyLo = new long[(int) slots];
        origin = new long[(int) slots];
        originVersion = new int[(int) slots];
        Arrays.fill(origin, -1);
        mask = (int) slots - 1;
        versions = new int[(int) pageCount];
        byte[] key = new byte[32];
        new SecureRandom().nextBytes(key);
        try {
            mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the JDK offers no HmacSHA256: " + e, e);
        }
        Arrays.fill(key, (byte) 0);
    }

    private static final java.util.concurrent.atomic.AtomicBoolean WARMED = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * Hashes throw-away pages on a background thread, once per JVM ({@link #warmUp}): for
     * {@code migrate --guest} under {@code --duplicates on} ({@link ByteSavings#warmUpInBackground}).
     */
    static void warmUpInBackground() {
        if (!WARMED.get()) {
            Thread.ofPlatform().daemon().name("duplicate-index-warm-up").start(DuplicateIndex::warmUp);
        }
    }

    /**
     * Hashes throw-away pages, once per JVM (later calls return at once): the JDK's HMAC-SHA256
     * reaches its SHA-extension speed (about 2.3 µs a page here) only once compiled; cold it costs
     * several times that (measured standalone: 34-56 µs a page over the first 1,000 pages, 7-20
     * over the first 10,000; 2.3-2.8 over 20,000 pages hashed after 3,000-30,000 warm-up hashes).
     * A process that serves migrations compiles it in its warm-up's self-migrations instead
     * ({@code Warmup}: its second forces duplicates on).
     */
    private static void warmUp() {
        if (!WARMED.compareAndSet(false, true)) {
            return;
        }
        try {
            Mac m = Mac.getInstance("HmacSHA256");
            m.init(new SecretKeySpec(new byte[32], "HmacSHA256"));
            byte[] pages = new byte[16 * Wire.PAGE_SIZE];
            new java.util.Random(1).nextBytes(pages);
            byte[] out = new byte[32];
            for (int i = 0; i < WARM_UP_HASHES; i++) {
                m.update(pages, (i & 15) * Wire.PAGE_SIZE, Wire.PAGE_SIZE);
                m.doFinal(out, 0);
            }
        } catch (GeneralSecurityException e) {
            // the index itself reports it when it is built
        }
    }

    /** References made per page hashed so far, or NaN before {@code minimum} pages were hashed. */
    double hitRate(long minimum) {
        return hashed < Math.max(1, minimum) ? Double.NaN : (double) hits / hashed;
    }

    /** Nanoseconds per page hashed (wall time of the lookups, hash included), or NaN before any. */
    double nanosPerPage() {
        return hashed == 0 ? Double.NaN : (double) hashNanos / hashed;
    }

    /** Slots in the table. */
    int slots() {
        return mask + 1;
    }

    /** Memory the index holds, table and per-page versions. */
    long bytes() {
        return (long) slots() * SLOT_BYTES + 4L * versions.length;
    }

    /**
     * Before a batch of pages {@code [first, first + n)} is encoded: when {@code references}, each
     * NORMAL page whose content (at {@code staged} + 4096 i) the destination holds in an unchanged
     * origin becomes DUPLICATE, with {@code patterns[i]} its origin and {@code refVersions[i]} the
     * origin's version; the other NORMAL pages are indexed. Every page's version then counts this
     * entry, in batch order (as the destination will count them). Returns the pages made DUPLICATE.
     */
    int apply(long first, int n, byte[] classes, long[] patterns, int[] refVersions, byte[] staged, boolean references) {
        int made = 0;
        long t0 = references ? System.nanoTime() : 0;
        for (int i = 0; i < n; i++) {
            int p = (int) (first + i);
            if (references && classes[i] == Wire.CLASS_NORMAL) {
                hashed++;
                hash(staged, i << Wire.PAGE_SHIFT);
                long hi = tagView.get(LONG, 0L);
                long lo = tagView.get(LONG, 8L);
                int slot = find(hi, lo);
                if (slot >= 0 && versions[(int) origin[slot]] == originVersion[slot]) {
                    classes[i] = Wire.CLASS_DUPLICATE;
                    patterns[i] = origin[slot];
                    refVersions[i] = originVersion[slot];
                    hits++;
                    made++;
                } else {
                    put(slot, hi, lo, p, versions[p] + 1);
                }
            }
            versions[p]++;
        }
        if (references) {
            hashNanos += System.nanoTime() - t0;
        }
        return made;
    }

    /** Counts an entry for pages that were encoded without {@link #apply} (runs sent as UNPOPULATED without a look). */
    void count(long first, int n) {
        for (int i = 0; i < n; i++) {
            versions[(int) (first + i)]++;
        }
    }

    private void hash(byte[] staged, int offset) {
        mac.update(staged, offset, Wire.PAGE_SIZE);
        try {
            mac.doFinal(tag, 0);
        } catch (javax.crypto.ShortBufferException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The slot holding this key, or -1. */
    private int find(long hi, long lo) {
        int s = (int) lo & mask;
        for (int k = 0; k < PROBES; k++, s = (s + 1) & mask) {
            if (origin[s] >= 0 && keyHi[s] == hi && keyLo[s] == lo) {
                return s;
            }
        }
        return -1;
    }

    /** Stores the key in {@code found} (its stale slot), else an empty slot of its window, else evicts by the key's high bits. */
    private void put(int found, long hi, long lo, long page, int version) {
        int s = found;
        if (s < 0) {
            int base = (int) lo & mask;
            for (int k = 0; k < PROBES && s < 0; k++) {
                int c = (base + k) & mask;
                if (origin[c] < 0) {
                    s = c;
                }
            }
            if (s < 0) {
                s = (base + (int) (hi >>> 62)) & mask;
                evictions++;
            }
        }
        keyHi[s] = hi;
        keyLo[s] = lo;
        origin[s] = page;
        originVersion[s] = version;
    }
}
