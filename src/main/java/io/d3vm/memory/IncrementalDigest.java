package io.d3vm.memory;

/**
 * The {@link MemoryDigest} of a memory kept up to date page by page, as the migration sends
 * (source) or rebuilds (destination) each page: it holds every page's current contribution, so a
 * page sent again replaces what it added before. When every page of a memory has been folded with
 * its current content, {@link #value} equals {@link MemoryDigest#compute} of that memory; at
 * COMPLETE only the final round's pages remain to fold, so the gate costs the pause nearly
 * nothing. Costs 8 bytes per guest page. One thread updates it (the sender's or receiver's).
 */
public final class IncrementalDigest {
    private final long[] contribution;
    private long sum;
    // Uniform pages repeat a few patterns (0xcc.., 0xff..): remember the last one's hash.
    private long lastWord;
    private long lastWordHash = MemoryDigest.ZERO_PAGE_HASH;

    public IncrementalDigest(long pageCount) {
        if (pageCount < 0 || pageCount > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("cannot keep a digest of " + pageCount + " pages");
        }
        this.contribution = new long[(int) pageCount];
    }

    /** Page {@code page} now holds content whose {@link MemoryDigest#hashPage} is {@code pageHash}. */
    public void page(long page, long pageHash) {
        set(page, MemoryDigest.contribution(page, pageHash));
    }

    /** Pages {@code [page, page + n)} now hold zeros (ZERO and UNPOPULATED records). */
    public void zero(long page, int n) {
        for (int i = 0; i < n; i++) {
            set(page + i, 0);
        }
    }

    /** Pages {@code [page, page + n)} now hold {@code word} repeated (UNIFORM records). */
    public void uniform(long page, int n, long word) {
        if (word != lastWord) {
            lastWordHash = MemoryDigest.uniformPageHash(word);
            lastWord = word;
        }
        for (int i = 0; i < n; i++) {
            set(page + i, MemoryDigest.contribution(page + i, lastWordHash));
        }
    }

    /** The digest of the memory as folded so far. */
    public long value() {
        return sum;
    }

    private void set(long page, long c) {
        int i = (int) page;
        sum += c - contribution[i];
        contribution[i] = c;
    }
}
