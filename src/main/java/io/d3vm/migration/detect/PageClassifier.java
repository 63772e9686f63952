package io.d3vm.migration.detect;

import io.d3vm.memory.GuestMemory;

/**
 * Decides which pages are dispensable. Three detectors share this interface so the same engine
 * runs the paper's baseline and ours side by side (docs/DESIGN.md, decision 5):
 * {@code none} (every page NORMAL), {@code full} (complete scan of every page) and {@code d3}
 * (sampled words reject fast; only a full check may accept).
 *
 * <p>Not thread-safe: each sender thread owns one classifier and its {@link DetectorStats}.
 */
public interface PageClassifier {
    /** Largest batch {@link #classify} accepts. */
    int MAX_BATCH = 512;

    /** {@code none}, {@code full} or {@code d3}. */
    String name();

    /**
     * Classifies pages {@code [firstPage, firstPage + count)}, which lie in one memory region,
     * into {@code out} (index 0 is {@code firstPage}). {@code round} (1-based) varies the sample
     * offsets between rounds. A classifier may ask the kernel which pages are resident and call
     * the others UNPOPULATED without reading them.
     */
    void classify(GuestMemory memory, long firstPage, int count, int round, Classification out);

    /**
     * For a scan through memory (pre-copy's first round): how many pages from {@code firstPage} on,
     * at most {@code max} and within its region, the host never backed — they are UNPOPULATED
     * without a look, and the engine sends them as runs without classifying them page by page.
     * Counted in {@link #stats()} as UNPOPULATED. 0 for a detector that asks nothing ({@code none}).
     * The answer may be a few milliseconds old: a page populated since then was written by the
     * guest, so the dirty log sends it again — which holds only while no dirty-log collection
     * happened since the answer was cached. So only pre-copy's first round may call this (dirty
     * logging starts before it, the first collection follows it); later rounds use
     * {@link #classify}, which asks the kernel afresh for every batch.
     */
    default long unpopulatedRun(GuestMemory memory, long firstPage, long max) {
        return 0;
    }

    /** Counters accumulated over every call so far. */
    DetectorStats stats();
}
