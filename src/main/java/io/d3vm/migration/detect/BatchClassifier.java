package io.d3vm.migration.detect;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryRegion;

import java.lang.foreign.MemorySegment;

/**
 * What the three detectors share: argument checks, the residency query, the stats and the timing
 * of each {@link #classify} call. Subclasses decide one resident page at a time.
 */
abstract sealed class BatchClassifier implements PageClassifier
        permits NoneClassifier, FullClassifier, D3Classifier {

    protected final DetectorStats stats = new DetectorStats();
    private final boolean[] resident = new boolean[MAX_BATCH];
    /** Pages one residency query covers in {@link #unpopulatedRun}: 64 MiB, one mincore call. */
    static final int RESIDENCY_WINDOW = 16_384;
    private final boolean[] window = new boolean[RESIDENCY_WINDOW];
    private long windowFirst = -1;
    private int windowCount;

    @Override
    public final DetectorStats stats() {
        return stats;
    }

    @Override
    public final void classify(GuestMemory memory, long firstPage, int count, int round, Classification out) {
        if (count < 0 || count > MAX_BATCH) {
            throw new IllegalArgumentException("batch of " + count + " pages; must be 0.." + MAX_BATCH);
        }
        if (out.classes.length < count || out.patterns.length < count) {
            throw new IllegalArgumentException("Classification holds " + out.classes.length + " pages, batch has " + count);
        }
        if (round < 1) {
            throw new IllegalArgumentException("round " + round + " must be >= 1");
        }
        if (count == 0) {
            return;
        }
        MemoryRegion region = memory.regionOfPage(firstPage);
        if (firstPage + count > region.endPageIndex()) {
            throw new IllegalArgumentException("pages [" + firstPage + ", " + (firstPage + count)
                    + ") cross the end of their memory region at page " + region.endPageIndex());
        }
        // Timed per call, not per page: nanoTime costs as much as classifying a zero-head page.
        long t0 = System.nanoTime();
        classifyBatch(memory, region, firstPage, count, round, out);
        stats.detectorNanos += System.nanoTime() - t0;
    }

    /**
     * Answers from a window of {@link #RESIDENCY_WINDOW} pages queried at once (a scan asks for
     * consecutive stretches), so an idle 1 GiB guest costs 16 residency queries instead of 512
     * batches classified page by page. {@code none} reads nothing and overrides this with 0.
     */
    @Override
    public long unpopulatedRun(GuestMemory memory, long firstPage, long max) {
        if (max <= 0 || !usesResidency()) {
            return 0;
        }
        long t0 = System.nanoTime();
        MemoryRegion region = memory.regionOfPage(firstPage);
        long limit = Math.min(firstPage + max, region.endPageIndex());
        long run = 0;
        for (long p = firstPage; p < limit; p++) {
            if (p < windowFirst || p >= windowFirst + windowCount) {
                windowFirst = p;
                windowCount = (int) Math.min(RESIDENCY_WINDOW, region.endPageIndex() - p);
                memory.residentPages(p, windowCount, window);
            }
            if (window[(int) (p - windowFirst)]) {
                break;
            }
            run++;
        }
        stats.pages[PageClass.UNPOPULATED.ordinal()] += run;
        stats.detectorNanos += System.nanoTime() - t0;
        return run;
    }

    /** Whether this detector asks the kernel about residency ({@code none} does not). */
    protected boolean usesResidency() {
        return true;
    }

    protected abstract void classifyBatch(GuestMemory memory, MemoryRegion region, long firstPage, int count,
                                          int round, Classification out);

    /**
     * Residency first (never-backed pages are UNPOPULATED without being read), then
     * {@link #classifyResident} for the rest.
     */
    protected final void classifyWithResidency(GuestMemory memory, MemoryRegion region, long firstPage, int count,
                                               int round, Classification out) {
        memory.residentPages(firstPage, count, resident);
        MemorySegment host = region.host();
        long base = (firstPage - region.firstPageIndex()) << GuestMemory.PAGE_SHIFT;
        long[] pages = stats.pages;
        for (int i = 0; i < count; i++) {
            PageClass c;
            if (!resident[i]) {
                c = PageClass.UNPOPULATED;
                out.patterns[i] = 0;
            } else {
                c = classifyResident(host, base + ((long) i << GuestMemory.PAGE_SHIFT), round, out.patterns, i);
            }
            out.classes[i] = (byte) c.ordinal();
            pages[c.ordinal()]++;
        }
    }

    /** Classifies the resident page at {@code offset} of {@code host}; stores a UNIFORM pattern in {@code patterns[i]}. */
    protected PageClass classifyResident(MemorySegment host, long offset, int round, long[] patterns, int i) {
        throw new UnsupportedOperationException(name() + " does not read pages");
    }

    /** The verdict of a complete check that found every word equal to {@code word0}. */
    protected static PageClass dispensable(long word0, long[] patterns, int i) {
        patterns[i] = word0;
        return word0 == 0 ? PageClass.ZERO : PageClass.UNIFORM;
    }
}
