package io.d3vm.memory;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * One bit per guest page (global page index). Setting bits is thread-safe and lock-free, so
 * writer threads, devices and the KVM log collector may mark pages concurrently; reading and
 * clearing is done by the single migration thread.
 */
public final class DirtyBitmap {
    private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);

    private final long pages;
    private final long[] words;

    public DirtyBitmap(long pages) {
        if (pages < 0 || pages > ((long) Integer.MAX_VALUE - 8) * 64) {
            throw new IllegalArgumentException("bad page count " + pages);
        }
        this.pages = pages;
        this.words = new long[(int) ((pages + 63) >>> 6)];
    }

    public long pages() {
        return pages;
    }

    /** How many 64-bit words the bitmap has (the wire's and KVM's format: bit i of word w is page 64w + i). */
    public int wordCount() {
        return words.length;
    }

    /** Word {@code i}, read atomically. */
    public long word(int i) {
        return (long) WORDS.getVolatile(words, i);
    }

    public void set(long page) {
        check(page);
        WORDS.getAndBitwiseOr(words, (int) (page >>> 6), 1L << page);
    }

    public boolean get(long page) {
        check(page);
        return ((long) WORDS.getVolatile(words, (int) (page >>> 6)) & (1L << page)) != 0;
    }

    public void clear(long page) {
        check(page);
        WORDS.getAndBitwiseAnd(words, (int) (page >>> 6), ~(1L << page));
    }

    public void setAll() {
        for (int i = 0; i < words.length; i++) {
            WORDS.setVolatile(words, i, -1L);
        }
        trimTail();
    }

    public void clearAll() {
        for (int i = 0; i < words.length; i++) {
            WORDS.setVolatile(words, i, 0L);
        }
    }

    /**
     * ORs a 64-bit-word bitmap (KVM's dirty-log format: bit i of word w is page w*64+i relative
     * to {@code firstPage}) into this one. {@code firstPage} must be a multiple of 64 or the bits
     * are set one by one.
     */
    public void orWords(long firstPage, long[] src, long srcPages) {
        if ((firstPage & 63) == 0) {
            int base = (int) (firstPage >>> 6);
            int n = (int) ((srcPages + 63) >>> 6);
            for (int i = 0; i < n; i++) {
                long w = src[i];
                if (i == n - 1 && (srcPages & 63) != 0) {
                    w &= (1L << (srcPages & 63)) - 1;
                }
                if (w != 0) {
                    WORDS.getAndBitwiseOr(words, base + i, w);
                }
            }
        } else {
            for (long p = 0; p < srcPages; p++) {
                if ((src[(int) (p >>> 6)] & (1L << p)) != 0) {
                    set(firstPage + p);
                }
            }
        }
    }

    /** ORs {@code other} into this bitmap. */
    public void or(DirtyBitmap other) {
        if (other.pages != pages) {
            throw new IllegalArgumentException("bitmap sizes differ");
        }
        for (int i = 0; i < words.length; i++) {
            long w = (long) WORDS.getVolatile(other.words, i);
            if (w != 0) {
                WORDS.getAndBitwiseOr(words, i, w);
            }
        }
    }

    /**
     * Moves every set bit into {@code into} (OR) and clears it here, word by word atomically, so
     * no concurrent {@link #set} is lost between the read and the clear.
     */
    public void drainInto(DirtyBitmap into) {
        if (into.pages != pages) {
            throw new IllegalArgumentException("bitmap sizes differ");
        }
        for (int i = 0; i < words.length; i++) {
            if ((long) WORDS.getVolatile(words, i) != 0) {
                long w = (long) WORDS.getAndSet(words, i, 0L);
                WORDS.getAndBitwiseOr(into.words, i, w);
            }
        }
    }

    /** The first set page at or after {@code from}, or -1. */
    public long nextSet(long from) {
        if (from >= pages) {
            return -1;
        }
        int wi = (int) (from >>> 6);
        long w = (long) WORDS.getVolatile(words, wi) & (-1L << from);
        while (true) {
            if (w != 0) {
                long p = ((long) wi << 6) + Long.numberOfTrailingZeros(w);
                return p < pages ? p : -1;
            }
            if (++wi == words.length) {
                return -1;
            }
            w = (long) WORDS.getVolatile(words, wi);
        }
    }

    /**
     * The first set page in {@code [from, to)}, or -1; reads only the words of that range, so a
     * caller walking a small range of a large bitmap does not pay for the rest of it.
     */
    public long nextSet(long from, long to) {
        to = Math.min(to, pages);
        if (from < 0 || from >= to) {
            return -1;
        }
        int wi = (int) (from >>> 6);
        int last = (int) ((to - 1) >>> 6);
        long w = (long) WORDS.getVolatile(words, wi) & (-1L << from);
        while (true) {
            if (w != 0) {
                long p = ((long) wi << 6) + Long.numberOfTrailingZeros(w);
                return p < to ? p : -1;
            }
            if (++wi > last) {
                return -1;
            }
            w = (long) WORDS.getVolatile(words, wi);
        }
    }

    public long count() {
        long c = 0;
        for (int i = 0; i < words.length; i++) {
            c += Long.bitCount((long) WORDS.getVolatile(words, i));
        }
        return c;
    }

    private void trimTail() {
        if ((pages & 63) != 0 && words.length > 0) {
            WORDS.setVolatile(words, words.length - 1, (1L << (pages & 63)) - 1);
        }
    }

    private void check(long page) {
        if (page < 0 || page >= pages) {
            throw new IndexOutOfBoundsException("page " + page + " outside bitmap of " + pages);
        }
    }

    /**
     * Runs this class's word loops over a 1 GiB guest's bitmap until the JIT compiled them. A
     * migration calls them only a few times (once per round), each over every word of the guest:
     * interpreted, the final pass of a 1 GiB guest spent ~0.4 ms in them inside the pause
     * ({@code final-sync}, docs/BENCHMARKS.md). Called by the migration warm-up.
     */
    public static long warmUp() {
        final long pages = 1L << 18;
        DirtyBitmap a = new DirtyBitmap(pages);
        DirtyBitmap b = new DirtyBitmap(pages);
        long[] words = new long[(int) (pages >>> 6)];
        words[17] = 1;
        words[words.length - 3] = 1L << 40;
        long seen = 0;
        for (int i = 0; i < 300; i++) {
            a.orWords(0, words, pages);
            a.drainInto(b);
            b.or(a);
            seen += b.count();
            for (long p = b.nextSet(0); p >= 0; p = b.nextSet(p + 1)) {
                seen += b.nextSet(p, Math.min(pages, p + 512)) >= 0 ? 1 : 0;
            }
            b.clearAll();
        }
        return seen;
    }
}
