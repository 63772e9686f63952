package io.d3vm.migration.detect;

import java.util.List;

/**
 * Builds a {@link PageClassifier} by name; the CLI's {@code --detector} and {@code --samples}
 * options and the migration engine call this, one classifier per sender thread.
 */
public final class Detectors {
    /** The valid detector names, baseline first. */
    public static final List<String> NAMES = List.of("none", "full", "d3");
    /** Sampled words per page for {@code d3} when not told otherwise (DESIGN.md, decision 2). */
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
}
