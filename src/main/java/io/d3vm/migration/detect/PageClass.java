package io.d3vm.migration.detect;

/**
 * What a page is, as far as migration cares. Only {@link #NORMAL} pages carry their bytes over
 * the wire; the others are dispensable and cross as metadata (docs/DESIGN.md, decision 1).
 */
public enum PageClass {
    /** Content that must be sent. */
    NORMAL,
    /** Every byte is zero. */
    ZERO,
    /** One 8-byte word repeated over the whole page (not all zero); the word is the pattern. */
    UNIFORM,
    /** Never backed by host memory: zero without reading it. */
    UNPOPULATED;

    private static final PageClass[] VALUES = values();

    public static PageClass ofOrdinal(int ordinal) {
        return VALUES[ordinal];
    }

    public boolean dispensable() {
        return this != NORMAL;
    }
}
