package io.d3vm.migration.report;

/**
 * What the byte savings beyond D3 did (docs/REPORT.md, {@code savings}): compression of pages sent
 * in full and duplicate pages sent as references. The source fills every field; the destination
 * the bytes it inflated and the references it resolved ({@code compress}, {@code duplicates} and
 * the index fields null or 0 there).
 *
 * @param compress        the source's {@code --compress} mode, or null on the destination
 * @param codec           the codec used, or null when none
 * @param level           the highest level the codec compressed at (zstd: 1, 3 or 6; 0 for LZ4 and on the destination)
 * @param framesCompressed PAGES frames that crossed compressed
 * @param framesRaw       PAGES frames offered to the compressor that did not shrink enough (sent raw)
 * @param bytesBefore     page data bytes offered to the compressor (destination: what compressed frames inflated to)
 * @param bytesAfter      what those bytes took on the wire, compressed or raw (destination: the compressed bytes read)
 * @param compressUs      wall time inside compression on the writer thread (CPU-bound: its CPU time)
 * @param duplicates      the source's {@code --duplicates} mode, or null on the destination
 * @param duplicatePages  pages sent (received) as references
 * @param indexBytes      memory of the source's index (table and per-page versions)
 * @param indexSlots      entries the index can hold
 * @param indexEvictions  entries overwritten because their probe window was full
 * @param hashUs          time spent hashing pages for the index (keyed 128-bit)
 */
public record SavingsRecord(String compress, String codec, int level, long framesCompressed, long framesRaw, long bytesBefore, long bytesAfter,
                            long compressUs, String duplicates, long duplicatePages, long indexBytes, long indexSlots,
                            long indexEvictions, long hashUs) {}
