package io.d3vm.migration.detect;

/**
 * Reusable output of {@link PageClassifier#classify}: for page {@code i} of the batch,
 * {@code classes[i]} is a {@link PageClass} ordinal and, when it is UNIFORM, {@code patterns[i]}
 * is the repeated 8-byte word (little-endian, as read from memory); when it is DUPLICATE,
 * {@code patterns[i]} is the origin page and {@code versions[i]} its version (the sender's duplicate
 * index writes those). One per sender thread: no allocation per page.
 */
public final class Classification {
    public final byte[] classes;
    public final long[] patterns;
    public final int[] versions;

    public Classification() {
        this(PageClassifier.MAX_BATCH);
    }

    public Classification(int capacity) {
        classes = new byte[capacity];
        patterns = new long[capacity];
        versions = new int[capacity];
    }

    public PageClass classOf(int i) {
        return PageClass.ofOrdinal(classes[i]);
    }
}
