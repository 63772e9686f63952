package io.d3vm.migration.wire;

/**
 * A decoded PAGES frame header, reused for every batch (no allocation per page): the batch covers
 * global pages {@code [firstPage, firstPage + pageCount)}, described by {@code runCount} runs in
 * order. After {@link FrameDecoder#readPages} returns, every field has been checked against the
 * memory layout; the NORMAL runs' data follow in the stream and are read with
 * {@link FrameDecoder#readBody}.
 */
public final class PageBatch {
    public long firstPage;
    public int pageCount;
    public int runCount;
    /** Index of the memory range that holds the batch, and that range's first global page. */
    public int range;
    public long rangeFirstPage;
    public int normalPages;
    /** Pages of DUPLICATE runs: their data are references, read with {@link FrameDecoder#readReferences}. */
    public int duplicatePages;
    public final int[] runPages = new int[Wire.MAX_BATCH_PAGES];
    public final byte[] runClass = new byte[Wire.MAX_BATCH_PAGES];
    public final long[] runPattern = new long[Wire.MAX_BATCH_PAGES];
}
