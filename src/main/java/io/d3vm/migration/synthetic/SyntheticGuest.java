package io.d3vm.migration.synthetic;

import io.d3vm.memory.DirtyBitmap;
import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.guest.GuestFactory;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryDigest;
import io.d3vm.memory.MemoryLayout;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.StampedLock;

/**
 * A guest without a CPU: anonymous memory with a chosen mix of page classes and writer threads that
 * rewrite pages at a set rate, recording each write in a dirty log. It lets the migration engine be
 * tested and measured on any machine and at sizes this host cannot boot ({@link SyntheticSpec}).
 *
 * <p>Source: {@link #create} fills memory (deterministically from the seed) and starts the writers.
 * Destination: {@link #createDestination} maps zeroed memory and leaves the writers paused until
 * {@link #restoreState} and {@link #resume}; they then continue the source's sequence.
 *
 * <p>Why each write is marked in the dirty log <em>after</em> the page is written: the engine drains
 * the log (atomic get-and-clear per word) and then reads the pages it found. If a writer marked
 * first and wrote second, a drain between the two would clear the mark, the engine could read the
 * page before the new bytes landed, and nothing would mark it again: a lost write. Marking after
 * means every completed write is followed by a mark that some later drain sees, and the page is
 * read after that drain, so it is read with the write in it (a drain that races a half-done write
 * sends a torn page, but the mark that follows makes the next round send it again). The volatile
 * read-modify-write of the mark and of the drain order the page's bytes before the engine's read.
 * {@link #pause} waits for in-flight writes (and their marks) to finish, so the final dirty pass
 * after the pause misses nothing.
 */
public final class SyntheticGuest implements Migratable {
    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Uniform page patterns: the kernel's freed-page poison 0xcc, 0xff, slab poison 0x6b, 0xa5. */
    static final long[] PATTERNS = {0xCCCCCCCCCCCCCCCCL, 0xFFFFFFFFFFFFFFFFL, 0x6B6B6B6B6B6B6B6BL, 0xA5A5A5A5A5A5A5A5L};
    private static final int STATE_MAGIC = 0x53594E31; // "SYN1"
    private static final int MAX_BURST_PAGES = 256;

    private final SyntheticSpec spec;
    private final GuestMemory memory;
    private final DirtyBitmap log;
    private final long wssPages;
    private final StampedLock gate = new StampedLock();
    private final long[] rng;
    private final AtomicLong writes = new AtomicLong();
    private final List<Thread> writers = new ArrayList<>();
    private long pauseStamp;
    private boolean paused;
    private volatile boolean shutdown;

    private SyntheticGuest(SyntheticSpec spec, GuestMemory memory, boolean startPaused) {
        this.spec = spec;
        this.memory = memory;
        this.log = new DirtyBitmap(memory.pageCount());
        this.wssPages = spec.wssBytes() >>> GuestMemory.PAGE_SHIFT;
        this.rng = new long[spec.threads()];
        for (int i = 0; i < rng.length; i++) {
            rng[i] = mix(spec.seed() * 0x9E3779B97F4A7C15L + i + 1);
        }
        if (startPaused) {
            pauseStamp = gate.writeLock();
            paused = true;
        }
        if (spec.dirtyRate() > 0) {
            double perThread = (double) spec.dirtyRate() / spec.threads();
            for (int i = 0; i < spec.threads(); i++) {
                int id = i;
                writers.add(Thread.ofPlatform().daemon().name("synthetic-writer-" + i).start(() -> writeLoop(id, perThread)));
            }
        }
    }

    /** A running source guest: memory filled with the spec's mix, writers started. */
    public static SyntheticGuest create(SyntheticSpec spec) {
        GuestMemory mem = GuestMemory.allocate(MemoryLayout.flat(spec.memBytes()));
        try {
            fill(spec, mem);
        } catch (RuntimeException e) {
            mem.close();
            throw e;
        }
        return new SyntheticGuest(spec, mem, false);
    }

    public static SyntheticGuest create(String description) {
        return create(SyntheticSpec.parse(description));
    }

    /** A paused destination guest with zeroed, unpopulated memory (the {@link GuestFactory} for {@code synthetic:}). */
    public static SyntheticGuest createDestination(String description, MemoryLayout layout) {
        SyntheticSpec spec = SyntheticSpec.parse(description);
        if (!layout.equals(MemoryLayout.flat(spec.memBytes()))) {
            throw new IllegalArgumentException("a synthetic guest of " + spec.memBytes() + " bytes has one range at 0, not " + layout);
        }
        return new SyntheticGuest(spec, GuestMemory.allocate(layout), true);
    }

    /** Registers {@code synthetic:} guests with a receiver's factories. */
    public static GuestFactories register(GuestFactories factories) {
        return factories.register(SyntheticSpec.PREFIX, SyntheticGuest::createDestination);
    }

    public SyntheticSpec spec() {
        return spec;
    }

    /** Pages written by the writers so far (on a destination: including the source's, after restore). */
    public long writes() {
        return writes.get();
    }

    public synchronized boolean isPaused() {
        return paused;
    }

    public boolean isShutdown() {
        return shutdown;
    }

    /** The digest of all memory (see {@link MemoryDigest}); meaningful while paused. */
    public long digest() {
        return MemoryDigest.compute(memory, Runtime.getRuntime().availableProcessors());
    }

    @Override
    public GuestMemory memory() {
        return memory;
    }

    @Override
    public String describe() {
        return spec.describe();
    }

    @Override
    public void startDirtyLogging() {
        // Round 1 reads every page after this point, so marks from earlier writes are not needed.
        log.clearAll();
    }

    @Override
    public void collectDirtyPages(DirtyBitmap into) {
        log.drainInto(into);
    }

    @Override
    public void stopDirtyLogging() {
        // The writers always mark (it is one atomic OR); nothing to switch off.
    }

    @Override
    public synchronized void pause() {
        if (!paused && !shutdown) {
            // Waits for every writer to finish its current burst, page and mark included.
            pauseStamp = gate.writeLock();
            paused = true;
        }
    }

    @Override
    public synchronized void resume() {
        if (paused && !shutdown) {
            paused = false;
            gate.unlockWrite(pauseStamp);
        }
    }

    @Override
    public synchronized byte[] saveState() {
        if (!paused) {
            throw new IllegalStateException("saveState needs a paused guest");
        }
        ByteBuffer b = ByteBuffer.allocate(16 + 8 * rng.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(STATE_MAGIC).putInt(rng.length).putLong(writes.get());
        for (long r : rng) {
            b.putLong(r);
        }
        return b.array();
    }

    @Override
    public synchronized void restoreState(byte[] state) {
        if (!paused) {
            throw new IllegalStateException("restoreState needs a paused guest");
        }
        ByteBuffer b = ByteBuffer.wrap(state).order(ByteOrder.LITTLE_ENDIAN);
        if (state.length != 16 + 8 * rng.length || b.getInt() != STATE_MAGIC || b.getInt() != rng.length) {
            throw new IllegalArgumentException("not the saved state of a synthetic guest with " + rng.length + " writer threads");
        }
        writes.set(b.getLong());
        for (int i = 0; i < rng.length; i++) {
            rng[i] = b.getLong();
        }
    }

    @Override
    public void shutdown() {
        synchronized (this) {
            if (shutdown) {
                return;
            }
            shutdown = true;
            if (paused) {
                paused = false;
                gate.unlockWrite(pauseStamp);
            }
        }
        for (Thread t : writers) {
            t.interrupt();
        }
        for (Thread t : writers) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        memory.close();
    }

    /** Auto-converge: the writers run {@code 100 - throttle} % of the time, so they write that much slower. */
    private volatile int throttle;

    @Override
    public void throttle(int percent) {
        if (percent < 0 || percent > 99) {
            throw new IllegalArgumentException("throttle " + percent + " % (0..99)");
        }
        throttle = percent;
    }

    public int throttlePercent() {
        return throttle;
    }

    private void writeLoop(int id, double pagesPerSecond) {
        MemorySegment scratch = java.lang.foreign.Arena.ofAuto().allocate(GuestMemory.PAGE_SIZE, GuestMemory.PAGE_SIZE);
        double credit = 0;
        long last = System.nanoTime();
        long sleepNanos = Math.max(200_000L, Math.min(5_000_000L, (long) (1e9 / pagesPerSecond)));
        while (!shutdown) {
            long stamp;
            try {
                stamp = gate.readLockInterruptibly();
            } catch (InterruptedException e) {
                return;
            }
            try {
                if (shutdown) {
                    return;
                }
                long now = System.nanoTime();
                // A pause does not build up a backlog: credit is capped at a short burst.
                double rate = pagesPerSecond * (100 - throttle) / 100.0;
                credit = Math.min(credit + (now - last) * rate / 1e9, Math.max(1, Math.min(MAX_BURST_PAGES, pagesPerSecond / 20)));
                last = now;
                while (credit >= 1) {
                    writeOnePage(id, scratch);
                    credit -= 1;
                }
            } finally {
                gate.unlockRead(stamp);
            }
            LockSupport.parkNanos(sleepNanos);
        }
    }

    /**
     * One guest write: pick a page in the working set and a class by the mix, write it, then mark it.
     * The content is made in {@code scratch} and copied in by native code: at a post-copy
     * destination the page may not have arrived, and the write then waits in the kernel until it
     * has — in native code, where the JVM does not wait for the thread to reach a safepoint (a Java
     * store waiting there would hold every other thread at the next safepoint, the receiver's too).
     */
    private void writeOnePage(int id, MemorySegment scratch) {
        long r = mix(rng[id] = next(rng[id]));
        long page = Long.remainderUnsigned(r, wssPages);
        long r2 = mix(rng[id] = next(rng[id]));
        int pick = (int) Long.remainderUnsigned(r2, 100);
        if (pick < spec.zeroPercent()) {
            scratch.fill((byte) 0);
        } else if (pick < spec.zeroPercent() + spec.uniformPercent()) {
            fillPattern(scratch, PATTERNS[(int) ((r2 >>> 32) & 3)]);
        } else {
            long h = mix(rng[id] = next(rng[id]));
            int t = spec.template(r2);
            if (t >= 0) {
                spec.fillTemplate(scratch, t);
            } else {
                fillRandom(scratch, h);
            }
        }
        io.d3vm.sys.LibC.copy(memory.page(page), scratch);
        log.set(page); // after the write: see the class comment
        writes.incrementAndGet();
    }

    /** Deterministic initial content, page by page from the seed, on all cores. */
    private static void fill(SyntheticSpec spec, GuestMemory mem) {
        long pages = mem.pageCount();
        int threads = Math.max(1, Math.min(Runtime.getRuntime().availableProcessors(), (int) Math.min(8, pages / 1024 + 1)));
        Thread[] ts = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            long from = pages * t / threads;
            long to = pages * (t + 1) / threads;
            ts[t] = Thread.ofPlatform().name("synthetic-fill-" + t).start(() -> {
                for (long pg = from; pg < to; pg++) {
                    initPage(spec, mem.page(pg), pg);
                }
            });
        }
        for (Thread t : ts) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while filling guest memory", e);
            }
        }
    }

    private static void initPage(SyntheticSpec spec, MemorySegment p, long page) {
        long h = mix(spec.seed() ^ mix(page + 0x51ED27L));
        int pick = (int) Long.remainderUnsigned(h, 100);
        if (pick < spec.zeroPercent()) {
            if ((int) Long.remainderUnsigned(h >>> 20, 100) < spec.touchedZeroPercent()) {
                p.set(ValueLayout.JAVA_BYTE, 0, (byte) 0); // populate without content: class ZERO
            } // else never touched: class UNPOPULATED
        } else if (pick < spec.zeroPercent() + spec.uniformPercent()) {
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
        for (long o = 0; o < GuestMemory.PAGE_SIZE; o += 8) {
            p.set(WORD, o, pattern);
        }
    }

    private static void fillRandom(MemorySegment p, long seed) {
        long s = seed;
        for (long o = 0; o < GuestMemory.PAGE_SIZE; o += 8) {
            s = next(s);
            p.set(WORD, o, mix(s));
        }
    }

    /** SplitMix64 step. */
    private static long next(long s) {
        return s + 0x9E3779B97F4A7C15L;
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
