package io.d3vm.migration.detect;

/**
 * Counters one classifier accumulates; the report's {@code d3} object is built from these.
 * Plain fields: a classifier and its stats belong to one thread; {@link #add} merges threads.
 */
public final class DetectorStats {
    /** Pages per {@link PageClass} ordinal. */
    public final long[] pages = new long[PageClass.values().length];
    /** Words read as samples before any full check. */
    public long sampledWords;
    /** Pages that got a complete (or early-exit) scan. */
    public long fullChecks;
    /** Pages whose samples all agreed but whose full check found them NORMAL: what sampling-only acceptance would have lost. */
    public long samplerMisses;
    /** Nanoseconds spent inside classify. */
    public long detectorNanos;

    public long pages(PageClass c) {
        return pages[c.ordinal()];
    }

    public long totalPages() {
        long t = 0;
        for (long p : pages) {
            t += p;
        }
        return t;
    }

    public long dispensablePages() {
        return totalPages() - pages(PageClass.NORMAL) - pages(PageClass.DUPLICATE);
    }

    /**
     * Takes back the page counts of a batch that was classified but never reached the stream (the
     * migration failed or was cancelled between the two), so that the report's page classes count
     * what was sent, as its {@code ram.normal} does. Samples and time spent stay counted.
     */
    public void uncount(byte[] classes, int n) {
        for (int i = 0; i < n; i++) {
            pages[classes[i]]--;
        }
    }

    public void add(DetectorStats o) {
        for (int i = 0; i < pages.length; i++) {
            pages[i] += o.pages[i];
        }
        sampledWords += o.sampledWords;
        fullChecks += o.fullChecks;
        samplerMisses += o.samplerMisses;
        detectorNanos += o.detectorNanos;
    }
}
