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
    UNPOPULATED,
    /**
     * NORMAL content the destination already holds in another page, sent as a reference to it.
     * No detector decides it: the sender's duplicate index turns NORMAL pages into it.
     */
    DUPLICATE;

    private static final PageClass[] VALUES = values();

    public static PageClass ofOrdinal(int ordinal) {
        return VALUES[ordinal];
    }

    /** Dispensable (D3's sense): no content of its own needs to cross. A DUPLICATE's content is needed, held elsewhere. */
    public boolean dispensable() {
        return this == ZERO || this == UNIFORM || this == UNPOPULATED;
    }
}
