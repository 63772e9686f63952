package io.d3vm.cli;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryRegion;
import io.d3vm.migration.detect.Classification;
import io.d3vm.migration.detect.DetectorStats;
import io.d3vm.migration.detect.Detectors;
import io.d3vm.migration.detect.PageClass;
import io.d3vm.migration.detect.PageClassifier;
import io.d3vm.migration.wire.Wire;
import io.d3vm.migration.detect.PlainRead;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What {@code d3vm analyze} computes for a guest memory: the class of every page (by a full
 * check, the ground truth), the uniform patterns, and for each detector the bytes a migration
 * would send and what classifying cost. Separate from the command so tests can check numbers.
 */
final class ImageAnalysis {
    record PatternCount(long pattern, long pages) {}

    /**
     * One detector's result: what it would send and what it cost — {@code nanos} is the thread's
     * CPU time for the fastest of the passes, the page sink included (runs counting: a few ns/page).
     */
    record DetectorResult(String name, long normalPages, long dispensablePages, long bytesSent,
                          long nanos, long sampledWords, long fullChecks, long samplerMisses) {
        double nsPerPage(long pages) {
            return pages == 0 ? 0 : (double) nanos / pages;
        }

        double gbPerSecond(long bytes) {
            return nanos == 0 ? 0 : (double) bytes / nanos;
        }
    }

    /**
     * Beyond D3's classes, over the NORMAL pages: how many repeat the exact content of an earlier
     * one (a migration would send them as 16-byte references), and what the rest take raw, as LZ4
     * and as zstd, compressed batch by batch as the sender does (a batch that does not shrink
     * counts raw). Times are thread CPU time. {@code boundBytes}: with {@code --bound}, what the
     * same unique pages take as one zstd stream at level {@link #BOUND_LEVEL} with a
     * 2^{@link #BOUND_WINDOW_LOG}-byte window and long-distance matching — every page compressed
     * against everything before it, far beyond what a live migration can afford: a floor for the
     * bytes any migration of this memory sends in practice (-1 when not asked for).
     */
    record Savings(long duplicatePages, long uniquePages, long rawBytes, long lz4Bytes, long zstdBytes, long lz4Nanos, long zstdNanos,
                   long boundBytes, long boundNanos) {}

    /** zstd's highest standard level: the bound's. */
    static final int BOUND_LEVEL = 19;
    /** 128 MiB: a whole 1 GiB guest's normal pages fit the window (the dirty Debian image's 139 MB nearly). */
    static final int BOUND_WINDOW_LOG = 27;

    /** {@code noneBytes}: what sending every page takes on the wire (the {@code none} detector's bytes, whether or not it ran). */
    record Result(long zero, long uniform, long normal, long total, List<PatternCount> topPatterns,
                  List<DetectorResult> detectors, long plainReadNanos, long noneBytes, Savings savings) {
        long bytes() {
            return total * GuestMemory.PAGE_SIZE;
        }
    }

    private ImageAnalysis() {}

    static Result analyze(GuestMemory memory, List<String> detectors, int samples, int passes, int topPatterns) {
        return analyze(memory, detectors, samples, passes, topPatterns, false);
    }

    /** As above; {@code bound}: also compute {@link Savings#boundBytes} (tens of seconds for a 1 GiB image). */
    static Result analyze(GuestMemory memory, List<String> detectors, int samples, int passes, int topPatterns, boolean bound) {
        // A first plain read faults every page of the mapping in, so no detector pays for that.
        long plainNanos = Long.MAX_VALUE;
        for (int p = 0; p <= passes; p++) {
            long t0 = cpuNanos();
            long sink = 0;
            for (MemoryRegion r : memory.regions()) {
                sink += PlainRead.sum(r.host());
            }
            long dt = cpuNanos() - t0;
            if (p > 0) {
                plainNanos = Math.min(plainNanos, dt);
            }
            Blackhole.consume(sink);
        }

        // Ground truth: the full detector's classes (d3 agrees by construction: only a full check accepts).
        long[] counts = new long[PageClass.values().length];
        Map<Long, Long> patterns = new HashMap<>();
        forEachBatch(memory, Detectors.create("full", samples), 1, (first, n, out) -> {
            for (int i = 0; i < n; i++) {
                PageClass c = out.classOf(i);
                counts[c.ordinal()]++;
                if (c == PageClass.UNIFORM) {
                    patterns.merge(out.patterns[i], 1L, Long::sum);
                }
            }
        });
        List<PatternCount> top = patterns.entrySet().stream()
                .sorted(Map.Entry.<Long, Long>comparingByValue().reversed()
                        .thenComparing(Map.Entry.comparingByKey()))
                .limit(topPatterns)
                .map(e -> new PatternCount(e.getKey(), e.getValue()))
                .toList();

        List<DetectorResult> results = new ArrayList<>();
        for (String name : detectors) {
            DetectorResult best = null;
            for (int p = 0; p < passes; p++) {
                PageClassifier c = Detectors.create(name, samples);
                FrameBytes frames = new FrameBytes();
                long t0 = cpuNanos();
                forEachBatch(memory, c, p + 1, frames);
                long cpu = cpuNanos() - t0;
                DetectorStats s = c.stats();
                long normal = s.pages(PageClass.NORMAL);
                DetectorResult r = new DetectorResult(name, normal, s.dispensablePages(), frames.bytes, cpu,
                        s.sampledWords, s.fullChecks, s.samplerMisses);
                if (best == null || r.nanos() < best.nanos()) {
                    best = r;
                }
            }
            results.add(best);
        }
        long zero = counts[PageClass.ZERO.ordinal()] + counts[PageClass.UNPOPULATED.ordinal()];
        return new Result(zero, counts[PageClass.UNIFORM.ordinal()], counts[PageClass.NORMAL.ordinal()],
                memory.pageCount(), top, results, plainNanos, allNormalBytes(memory), savings(memory, samples, bound));
    }

    /** Duplicates (exact content, found through a 64-bit hash and confirmed byte by byte) and compressed sizes. */
    static Savings savings(GuestMemory memory, int samples, boolean bound) {
        Map<Long, Long> firstWithHash = new HashMap<>();
        java.nio.ByteBuffer batch = java.nio.ByteBuffer.allocateDirect(PageClassifier.MAX_BATCH * Wire.PAGE_SIZE);
        java.nio.ByteBuffer packed = java.nio.ByteBuffer.allocateDirect(PageClassifier.MAX_BATCH * Wire.PAGE_SIZE + 4096);
        java.lang.foreign.MemorySegment batchSeg = java.lang.foreign.MemorySegment.ofBuffer(batch);
        long[] acc = new long[6]; // duplicates, unique, lz4 bytes, zstd bytes, lz4 ns, zstd ns
        try (io.d3vm.migration.wire.PageCodec lz4 = io.d3vm.migration.wire.PageCodec.ofName("lz4");
             io.d3vm.migration.wire.PageCodec zstd = io.d3vm.migration.wire.PageCodec.ofName("zstd");
             BoundStream floor = bound ? new BoundStream() : null) {
            forEachBatch(memory, Detectors.create("full", samples), 1, (first, n, out) -> {
                int bytes = 0;
                for (int i = 0; i < n; i++) {
                    if (out.classes[i] != Wire.CLASS_NORMAL) {
                        continue;
                    }
                    long page = first + i;
                    java.lang.foreign.MemorySegment content = memory.page(page);
                    long h = io.d3vm.memory.MemoryDigest.hashPage(content, 0);
                    Long earlier = firstWithHash.putIfAbsent(h, page);
                    if (earlier != null && memory.page(earlier).mismatch(content) < 0) {
                        acc[0]++;
                        continue;
                    }
                    acc[1]++;
                    java.lang.foreign.MemorySegment.copy(content, 0, batchSeg, bytes, Wire.PAGE_SIZE);
                    bytes += Wire.PAGE_SIZE;
                }
                if (bytes > 0) {
                    long t0 = cpuNanos();
                    int l = lz4.compress(batch, 0, bytes, packed, 0, bytes - Wire.COMPRESSED_FIXED - 1);
                    long t1 = cpuNanos();
                    int z = zstd.compress(batch, 0, bytes, packed, 0, bytes - Wire.COMPRESSED_FIXED - 1);
                    long t2 = cpuNanos();
                    acc[2] += l < 0 ? bytes : l + Wire.COMPRESSED_FIXED;
                    acc[3] += z < 0 ? bytes : z + Wire.COMPRESSED_FIXED;
                    acc[4] += t1 - t0;
                    acc[5] += t2 - t1;
                    if (floor != null) {
                        floor.add(batch.duplicate().limit(bytes));
                    }
                }
            });
            return new Savings(acc[0], acc[1], acc[1] * Wire.PAGE_SIZE, acc[2], acc[3], acc[4], acc[5],
                    floor == null ? -1 : floor.finish(), floor == null ? 0 : floor.nanos);
        }
    }

    /** The unique pages through one zstd stream ({@link Savings#boundBytes}); counts what comes out. */
    private static final class BoundStream implements AutoCloseable {
        private final com.github.luben.zstd.ZstdCompressCtx ctx = new com.github.luben.zstd.ZstdCompressCtx()
                .setLevel(BOUND_LEVEL).setWindowLog(BOUND_WINDOW_LOG).setLong(BOUND_WINDOW_LOG).setChecksum(false);
        private final java.nio.ByteBuffer out = java.nio.ByteBuffer.allocateDirect(4 << 20);
        private long bytes;
        long nanos;

        void add(java.nio.ByteBuffer in) {
            long t0 = cpuNanos();
            while (in.hasRemaining()) {
                ctx.compressDirectByteBufferStream(out, in, com.github.luben.zstd.EndDirective.CONTINUE);
                drain();
            }
            nanos += cpuNanos() - t0;
        }

        long finish() {
            long t0 = cpuNanos();
            java.nio.ByteBuffer none = java.nio.ByteBuffer.allocateDirect(0);
            while (!ctx.compressDirectByteBufferStream(out, none, com.github.luben.zstd.EndDirective.END)) {
                drain();
            }
            drain();
            nanos += cpuNanos() - t0;
            return bytes;
        }

        private void drain() {
            bytes += out.position();
            out.clear();
        }

        @Override
        public void close() {
            ctx.close();
        }
    }

    /** The PAGES frames of every page sent whole: one NORMAL run per batch. */
    private static long allNormalBytes(GuestMemory memory) {
        long bytes = 0;
        for (MemoryRegion r : memory.regions()) {
            for (long p = r.firstPageIndex(); p < r.endPageIndex(); p += PageClassifier.MAX_BATCH) {
                bytes += Wire.pagesFrameBytes(1, (int) Math.min(PageClassifier.MAX_BATCH, r.endPageIndex() - p));
            }
        }
        return bytes;
    }

    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    /**
     * The calling thread's CPU time: on a shared machine, time spent descheduled would otherwise
     * swamp what is measured. Falls back to wall-clock time where the JVM cannot tell.
     */
    static long cpuNanos() {
        return THREADS.isCurrentThreadCpuTimeSupported() ? THREADS.getCurrentThreadCpuTime() : System.nanoTime();
    }

    interface BatchSink {
        void accept(long firstPage, int count, Classification out);
    }

    /** Classifies every page of every region in batches of {@link PageClassifier#MAX_BATCH}. */
    static void forEachBatch(GuestMemory memory, PageClassifier c, int round, BatchSink sink) {
        Classification out = new Classification();
        for (MemoryRegion r : memory.regions()) {
            for (long p = r.firstPageIndex(); p < r.endPageIndex(); ) {
                int n = (int) Math.min(PageClassifier.MAX_BATCH, r.endPageIndex() - p);
                c.classify(memory, p, n, round, out);
                sink.accept(p, n, out);
                p += n;
            }
        }
    }

    /**
     * Adds up the PAGES frames a sender would write for the classified batches: the same batches
     * (at most {@link PageClassifier#MAX_BATCH} pages, never across regions) and the same run
     * rule ({@link Wire#runCount}), so the total is the page data of a first round on the wire.
     */
    private static final class FrameBytes implements BatchSink {
        long bytes;

        @Override
        public void accept(long firstPage, int count, Classification out) {
            int normal = 0;
            for (int i = 0; i < count; i++) {
                if (out.classes[i] == Wire.CLASS_NORMAL) {
                    normal++;
                }
            }
            bytes += Wire.pagesFrameBytes(Wire.runCount(count, out.classes, out.patterns), normal);
        }
    }

    /** Keeps a computed value alive so the JIT cannot drop the plain read. */
    private static final class Blackhole {
        static volatile long sink;

        static void consume(long v) {
            sink = v;
        }
    }

    /** Detector names in the order given, validated and without duplicates. */
    static List<String> detectorNames(List<String> requested) {
        LinkedHashMap<String, Boolean> names = new LinkedHashMap<>();
        for (String r : requested) {
            for (String n : r.split(",")) {
                String name = n.trim();
                if (!Detectors.NAMES.contains(name)) {
                    throw new IllegalArgumentException("unknown detector '" + name + "': use one of "
                            + String.join(", ", Detectors.NAMES));
                }
                names.put(name, Boolean.TRUE);
            }
        }
        return List.copyOf(names.keySet());
    }
}
