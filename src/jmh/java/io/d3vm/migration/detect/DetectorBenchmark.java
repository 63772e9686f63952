package io.d3vm.migration.detect;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryRegion;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

/**
 * One operation classifies (or reads) the whole {@link MemoryMix}: 1 GiB by default, in batches
 * of {@link PageClassifier#MAX_BATCH} pages as the migration engine does, residency query
 * included. {@code plainRead} sums the same bytes and nothing else: the physical limit the
 * detectors are compared with (scripts/bench-detectors.sh prints GB/s and the ratio).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Xmx512m", "-XX:+UseParallelGC"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class DetectorBenchmark {

    /** d3's sample count; a separate state so that only {@link #d3} is crossed with it. */
    @State(Scope.Benchmark)
    public static class Samples {
        @Param({"1", "4", "8", "16"})
        public int samples;
    }

    static long classifyAll(MemoryMix m, PageClassifier c, Blackhole bh) {
        GuestMemory mem = m.memory;
        Classification out = new Classification();
        int round = m.nextRound();
        for (MemoryRegion r : mem.regions()) {
            for (long p = r.firstPageIndex(); p < r.endPageIndex(); p += PageClassifier.MAX_BATCH) {
                int n = (int) Math.min(PageClassifier.MAX_BATCH, r.endPageIndex() - p);
                c.classify(mem, p, n, round, out);
                bh.consume(out.classes[n - 1]);
            }
        }
        return c.stats().dispensablePages();
    }

    @Benchmark
    public long plainRead(MemoryMix m) {
        long sum = 0;
        for (MemoryRegion r : m.memory.regions()) {
            sum += PlainRead.sum(r.host());
        }
        return sum;
    }

    @Benchmark
    public long none(MemoryMix m, Blackhole bh) {
        return classifyAll(m, Detectors.create("none"), bh);
    }

    @Benchmark
    public long full(MemoryMix m, Blackhole bh) {
        return classifyAll(m, Detectors.create("full"), bh);
    }

    @Benchmark
    public long d3(MemoryMix m, Samples s, Blackhole bh) {
        return classifyAll(m, Detectors.create("d3", s.samples), bh);
    }

    /** The full check's kernel alone (no residency, no counters): long-at-a-time. */
    @Benchmark
    public long kernelScalar(MemoryMix m) {
        return kernel(m, 0);
    }

    /** The full check's kernel alone: Vector API. */
    @Benchmark
    public long kernelVector(MemoryMix m) {
        return kernel(m, 1);
    }

    /** The full check's kernel alone: the page against itself one word on, MemorySegment.mismatch. */
    @Benchmark
    public long kernelMismatch(MemoryMix m) {
        return kernel(m, 2);
    }

    private static long kernel(MemoryMix m, int kind) {
        long uniform = 0;
        for (MemoryRegion r : m.memory.regions()) {
            MemorySegment h = r.host();
            for (long o = 0; o < h.byteSize(); o += GuestMemory.PAGE_SIZE) {
                long w = PageScan.word(h, o);
                boolean same = switch (kind) {
                    case 0 -> PageScan.uniformScalar(h, o, 0, w);
                    case 1 -> PageScan.uniformVector(h, o, 0, w);
                    default -> PageScan.uniformMismatch(h, o, 0, w);
                };
                if (same) {
                    uniform++;
                }
            }
        }
        return uniform;
    }
}
