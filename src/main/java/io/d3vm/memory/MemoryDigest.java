package io.d3vm.memory;

import io.d3vm.sys.LibC;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A fast 64-bit digest of all of a guest's memory, used by migration to prove that the destination
 * ended up with the source's bytes. Not cryptographic: it detects corruption and lost writes, not
 * an adversary (a keyed 128-bit hash is the job of the authenticated channel).
 *
 * <p>Per page, four lanes each fold every fourth 8-byte word with {@code rotl(acc ^ w, 27) * P};
 * each step is a bijection of the lane, so a page differing in any single word always hashes
 * differently. The digest is the sum (mod 2^64) over all pages of a position-keyed
 * {@link #contribution} of the page's hash, defined so that a page of zeros contributes 0. A sum
 * does not depend on order or thread count, and it can be kept incrementally
 * ({@link IncrementalDigest}): replacing one page's contribution is a subtraction and an
 * addition. So the engine folds each page as it is sent or rebuilt (the gate, checked at
 * COMPLETE), and {@link #compute} hashes a whole memory the same way (the source's audit after
 * the switch-over, and {@code --verify strict} inside the pause). Pages the host never backed are
 * not read: they are zero and contribute nothing.
 */
public final class MemoryDigest {
    static final int CHUNK_PAGES = 8192;
    // Unaligned: pages are hashed in guest memory and frame buffers, and also in byte[] copies (the duplicate index's staging), which promise no 8-byte alignment.
    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long P = 0x9E3779B97F4A7C15L;
    private static final long S0 = 0x243F6A8885A308D3L;
    private static final long S1 = 0x13198A2E03707344L;
    private static final long S2 = 0xA4093822299F31D0L;
    private static final long S3 = 0x082EFA98EC4E6C89L;
    /** The hash of a page of zeros, which is also the hash of every unpopulated page. */
    public static final long ZERO_PAGE_HASH = uniformPageHash(0);
    private static volatile long sink;

    private MemoryDigest() {}

    /**
     * Gets {@link #compute}'s whole path compiled — residency query, per-chunk loop, page hash,
     * sum — over 32 MiB of scratch memory with every other page populated, as guests are. Its
     * first pass through cold code is several times slower (the destination's whole-memory digest
     * took 300–600 ms instead of 50–150 ms in a fifth of the runs of the 2026-11-24 bench series),
     * and under {@code --verify strict} it runs inside the pause. The migration warm-up runs it.
     */
    public static void warmUp() {
        long h = 0;
        try (GuestMemory scratch = GuestMemory.allocate(MemoryLayout.flat((long) CHUNK_PAGES * GuestMemory.PAGE_SIZE))) {
            for (long p = 0; p < scratch.pageCount(); p += 2) {
                scratch.page(p).set(WORD, 8, p * P); // populated, and different from its neighbours
            }
            for (int i = 0; i < 10; i++) {
                h ^= compute(scratch, 1);
            }
        }
        sink = h;
    }

    /** The digest of all of {@code memory}, on up to {@code threads} threads (the caller's among them). */
    public static long compute(GuestMemory memory, int threads) {
        return compute(memory, threads, false);
    }

    /**
     * The digest of all of {@code memory} for a check nobody waits on (the source's audit after the
     * switch-over): on up to {@code threads} threads of their own at the lowest scheduling priority,
     * so that it only uses CPU no running guest wants. It starts at GO: when both ends of a
     * migration share a host (tests, the bench), a full-priority audit competes on both cores with
     * the destination's first milliseconds of running the guest; in production it would compete
     * with the source host's other guests.
     */
    public static long computeInBackground(GuestMemory memory, int threads) {
        return compute(memory, threads, true);
    }

    private static long compute(GuestMemory memory, int threads, boolean background) {
        long pages = memory.pageCount();
        int chunks = (int) ((pages + CHUNK_PAGES - 1) / CHUNK_PAGES);
        long[] chunkSum = new long[chunks];
        AtomicInteger next = new AtomicInteger();
        Runnable work = () -> {
            boolean[] resident = new boolean[CHUNK_PAGES];
            for (int c; (c = next.getAndIncrement()) < chunks; ) {
                chunkSum[c] = chunk(memory, (long) c * CHUNK_PAGES, (int) Math.min(CHUNK_PAGES, pages - (long) c * CHUNK_PAGES), resident);
            }
        };
        int n = Math.max(1, Math.min(threads, chunks));
        // In the background every worker is a thread of its own: a thread's nice value cannot be
        // lowered back without privileges, so the caller's thread never does the work then.
        Runnable worker = background ? () -> {
            try {
                LibC.setThreadNice(LibC.NICE_LOWEST);
            } catch (RuntimeException e) {
                // still correct at normal priority
            }
            work.run();
        } : work;
        Thread[] helpers = new Thread[background ? n : n - 1];
        for (int i = 0; i < helpers.length; i++) {
            helpers[i] = Thread.ofPlatform().name("digest-" + (i + 1)).start(worker);
        }
        if (!background) {
            work.run();
        }
        for (Thread t : helpers) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while computing the memory digest", e);
            }
        }
        long d = 0;
        for (long cs : chunkSum) {
            d += cs;
        }
        return d;
    }

    private static long chunk(GuestMemory memory, long first, int count, boolean[] resident) {
        long d = 0;
        long page = first;
        long end = first + count;
        while (page < end) {
            MemoryRegion r = memory.regionOfPage(page);
            int n = (int) (Math.min(end, r.endPageIndex()) - page);
            memory.residentPages(page, n, resident);
            MemorySegment host = r.host();
            long off = (page - r.firstPageIndex()) << GuestMemory.PAGE_SHIFT;
            for (int i = 0; i < n; i++) {
                if (resident[i]) {
                    d += contribution(page + i, hashPage(host, off + ((long) i << GuestMemory.PAGE_SHIFT)));
                }
            }
            page += n;
        }
        return d;
    }

    /**
     * What page {@code pageIndex} with hash {@code pageHash} adds to the digest: keyed by position
     * (the same content elsewhere adds something else), and exactly 0 for a page of zeros, so
     * untouched memory costs nothing on either side.
     */
    public static long contribution(long pageIndex, long pageHash) {
        long key = mix(pageIndex * P + S0);
        return mix(pageHash ^ key) - mix(ZERO_PAGE_HASH ^ key);
    }

    /** The hash of a page whose every 8-byte word is {@code word} (little-endian), without reading memory. */
    public static long uniformPageHash(long word) {
        long a = S0;
        long b = S1;
        long c = S2;
        long e = S3;
        for (int i = 0; i < GuestMemory.PAGE_SIZE / 32; i++) {
            a = Long.rotateLeft(a ^ word, 27) * P;
            b = Long.rotateLeft(b ^ word, 27) * P;
            c = Long.rotateLeft(c ^ word, 27) * P;
            e = Long.rotateLeft(e ^ word, 27) * P;
        }
        return mix(a + mix(b + mix(c + mix(e))));
    }

    /** The hash of the 4 KiB page at {@code offset} in {@code seg}. */
    public static long hashPage(MemorySegment seg, long offset) {
        // One bounds check for the whole page lets the JIT drop the per-word checks.
        MemorySegment page = seg.asSlice(offset, GuestMemory.PAGE_SIZE);
        long a = S0;
        long b = S1;
        long c = S2;
        long e = S3;
        for (long o = 0; o < GuestMemory.PAGE_SIZE; o += 32) {
            a = Long.rotateLeft(a ^ page.get(WORD, o), 27) * P;
            b = Long.rotateLeft(b ^ page.get(WORD, o + 8), 27) * P;
            c = Long.rotateLeft(c ^ page.get(WORD, o + 16), 27) * P;
            e = Long.rotateLeft(e ^ page.get(WORD, o + 24), 27) * P;
        }
        return mix(a + mix(b + mix(c + mix(e))));
    }

    /** MurmurHash3's 64-bit finalizer: a bijection that spreads every input bit. */
    private static long mix(long z) {
        z = (z ^ (z >>> 33)) * 0xFF51AFD7ED558CCDL;
        z = (z ^ (z >>> 33)) * 0xC4CEB9FE1A85EC53L;
        return z ^ (z >>> 33);
    }
}
