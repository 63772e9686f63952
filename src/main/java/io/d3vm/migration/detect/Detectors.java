package io.d3vm.migration.detect;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryLayout;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Builds a {@link PageClassifier} by name; the CLI's {@code --detector} and {@code --samples}
 * options and the migration engine call this, one classifier per sender thread.
 */
public final class Detectors {
    /** The valid detector names, baseline first. */
    public static final List<String> NAMES = List.of("none", "full", "d3");
    /** The detector a migration uses when not told otherwise. */
    public static final String DEFAULT_DETECTOR = "d3";
    /** Sampled words per page for {@code d3} when not told otherwise (docs/DESIGN.md, decision 2). */
    public static final int DEFAULT_SAMPLES = 8;

    private Detectors() {}

    /** A detector with the default sample count. */
    public static PageClassifier create(String name) {
        return create(name, DEFAULT_SAMPLES);
    }

    /**
     * A fresh detector with its own {@link DetectorStats}. {@code samples} (0..64) is the number
     * of words {@code d3} probes after the first cache line; the other detectors ignore it.
     */
    public static PageClassifier create(String name, int samples) {
        if (samples < 0 || samples > SamplePlan.MAX_SAMPLES) {
            throw new IllegalArgumentException("--samples " + samples + " is out of range: use 0.." + SamplePlan.MAX_SAMPLES);
        }
        return switch (name == null ? "" : name) {
            case "none" -> new NoneClassifier();
            case "full" -> new FullClassifier();
            case "d3" -> new D3Classifier(samples);
            default -> throw new IllegalArgumentException("unknown detector '" + name + "': use one of " + String.join(", ", NAMES));
        };
    }

    /** Pages of scratch memory the warm-up classifies, and how long it may take at most. */
    static final int WARM_UP_PAGES = 1024;
    // The first call in a process also pays one-time initialisation (Vector API, native linking),
    // which dwarfs the passes themselves; the limit only bounds a pathologically slow machine.
    static final long WARM_UP_MAX_NANOS = 2_000_000_000L;
    static final int WARM_UP_PASSES = 48;

    /**
     * Runs a fresh detector of this kind over scratch memory holding every page class (zero,
     * uniform, random, zero-head, never touched) until the JIT has compiled its hot paths.
     * Round 1 of a migration classifies every page once; without this its first hundred thousand
     * pages run through cold code several times slower than warm (compare a migration report's
     * {@code d3.detector-ns} per page with {@code d3vm analyze}'s ns/page). The sender starts it at
     * setup, while it waits for the destination anyway. Returns the pages classified.
     */
    public static long warmUp(String name, int samples) {
        PageClassifier c = create(name, samples);
        try (GuestMemory scratch = GuestMemory.allocate(MemoryLayout.flat((long) WARM_UP_PAGES * GuestMemory.PAGE_SIZE))) {
            SplittableRandom rnd = new SplittableRandom(42);
            // Page 5 of every 8 is left untouched: it stays unpopulated, as most of a fresh guest is.
            for (int p = 0; p < WARM_UP_PAGES; p++) {
                MemorySegment page = scratch.page(p);
                switch (p % 8) {
                    case 0, 1, 2 -> page.set(ValueLayout.JAVA_BYTE, 0, (byte) 0);          // populated zero
                    case 3 -> page.fill((byte) 0xcc);                                        // uniform
                    case 4 -> page.asSlice(GuestMemory.PAGE_SIZE / 2).fill((byte) 1);        // zero head
                    case 6, 7 -> {                                                           // content
                        for (long o = 0; o < GuestMemory.PAGE_SIZE; o += 8) {
                            page.set(ValueLayout.JAVA_LONG_UNALIGNED, o, rnd.nextLong());
                        }
                    }
                    default -> { }
                }
            }
            Classification out = new Classification();
            long pages = 0;
            long deadline = System.nanoTime() + WARM_UP_MAX_NANOS;
            for (int pass = 1; pass <= WARM_UP_PASSES && System.nanoTime() < deadline; pass++) {
                for (int p = 0; p < WARM_UP_PAGES; p += PageClassifier.MAX_BATCH) {
                    c.classify(scratch, p, Math.min(PageClassifier.MAX_BATCH, WARM_UP_PAGES - p), pass, out);
                    pages += PageClassifier.MAX_BATCH;
                }
            }
            return pages;
        }
    }

    private static final java.util.Set<String> WARMED = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /**
     * {@link #warmUp} on a daemon thread, once per detector and sample count per process. The
     * sender's setup calls it, and so does {@code run --api-socket} at start, long before a
     * migration. Failures only cost speed.
     */
    public static void warmUpInBackground(String name, int samples) {
        if (!WARMED.add(name + "/" + samples)) {
            return;
        }
        Thread t = Thread.ofPlatform().daemon().name("detector-warm-up").unstarted(() -> warmUp(name, samples));
        t.setUncaughtExceptionHandler((th, e) -> { });
        t.start();
    }
}
