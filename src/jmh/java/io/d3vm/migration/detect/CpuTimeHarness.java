package io.d3vm.migration.detect;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryRegion;

import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.ToLongFunction;

/**
 * A companion to the JMH run for shared, loaded machines: times the same work as
 * {@link DetectorBenchmark} by the thread's CPU time (time the thread was descheduled does not
 * count) and keeps the fastest of {@code reps} interleaved passes, so the ratios between variants
 * stay readable when other processes compete for the cores. It also times d3 with 0 and 2 samples
 * and the full detector without its residency query (what mincore costs).
 *
 * <pre>java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *   -cp target/benchmarks.jar io.d3vm.migration.detect.CpuTimeHarness [reps] [mix...]</pre>
 * Mixes as in {@link MemoryMix}; the image comes from system property {@code d3vm.bench.image}.
 */
public final class CpuTimeHarness {
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    private record Variant(String name, ToLongFunction<MemoryMix> run) {}

    public static void main(String[] args) throws Exception {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 8;
        List<String> mixes = args.length > 1 ? List.of(args).subList(1, args.length)
                : List.of("zero", "random", "half", "sparse", "zerohead", "uniform", "image");
        List<Variant> variants = new ArrayList<>();
        variants.add(new Variant("plainRead", m -> {
            long s = 0;
            for (MemoryRegion r : m.memory.regions()) {
                s += PlainRead.sum(r.host());
            }
            return s;
        }));
        variants.add(new Variant("full", m -> classify(m, Detectors.create("full"))));
        for (int k : new int[] {0, 1, 2, 4, 8, 16}) {
            variants.add(new Variant("d3/" + k, m -> classify(m, Detectors.create("d3", k))));
        }
        // Without the residency query (mincore per batch): the same memory viewed as an image.
        variants.add(new Variant("full/no-mincore", m -> classify(m.withoutResidency(), m, Detectors.create("full"))));

        // The full check's three kernels alone (no residency, no counters): the measurement behind
        // PageScan.uniformFrom's choice of the Vector API. (-Dd3vm.detector.kernel=scalar|mismatch
        // times the whole detectors with another kernel.)
        variants.add(new Variant("kernelScalar", m -> kernel(m, 0)));
        variants.add(new Variant("kernelVector", m -> kernel(m, 1)));
        variants.add(new Variant("kernelMismatch", m -> kernel(m, 2)));

        // Warm the JIT on small memory first: the Vector API is slow until C2 compiles it, and a
        // loop run once per pass over 1 GiB would otherwise be timed in its OSR/C1 versions.
        MemoryMix warm = new MemoryMix();
        warm.mix = "half";
        warm.sizeMiB = 16;
        warm.image = "";
        warm.fill();
        for (int i = 0; i < 300; i++) {
            for (Variant v : variants) {
                v.run().applyAsLong(warm);
            }
        }
        warm.free();

        StringBuilder header = new StringBuilder("| mix |");
        StringBuilder rule = new StringBuilder("|---|");
        for (Variant v : variants) {
            header.append(' ').append(v.name()).append(" |");
            rule.append("---|");
        }
        System.out.println("CPU-time GB/s (ratio to plainRead), best of " + reps + " passes over 1 GiB\n");
        System.out.println(header);
        System.out.println(rule);
        for (String mix : mixes) {
            MemoryMix m = new MemoryMix();
            m.mix = mix;
            m.sizeMiB = Integer.getInteger("d3vm.bench.mib", 1024);
            m.image = "";
            try {
                m.fill();
            } catch (IllegalStateException e) {
                continue; // MemoryMix printed why (no image)
            }
            long[] best = new long[variants.size()];
            java.util.Arrays.fill(best, Long.MAX_VALUE);
            long sink = 0;
            for (int rep = 0; rep <= reps; rep++) {          // pass 0 warms up the JIT
                for (int i = 0; i < variants.size(); i++) {
                    long t0 = THREADS.getCurrentThreadCpuTime();
                    sink += variants.get(i).run().applyAsLong(m);
                    long dt = THREADS.getCurrentThreadCpuTime() - t0;
                    if (rep > 0) {
                        best[i] = Math.min(best[i], dt);
                    }
                }
            }
            StringBuilder row = new StringBuilder("| " + mix + " |");
            double plain = m.bytes / (double) best[0];
            for (int i = 0; i < variants.size(); i++) {
                double gbps = m.bytes / (double) best[i];
                row.append(String.format(Locale.ROOT, i == 0 ? " %.1f |" : " %.1f (%.2f) |", gbps, gbps / plain));
            }
            System.out.println(row + (sink == 42 ? " " : ""));
            m.free();
        }
    }

    private static long classify(MemoryMix m, PageClassifier c) {
        return classify(m.memory, m, c);
    }

    private static long classify(GuestMemory mem, MemoryMix m, PageClassifier c) {
        Classification out = new Classification();
        int round = m.nextRound();
        for (MemoryRegion r : mem.regions()) {
            for (long p = r.firstPageIndex(); p < r.endPageIndex(); p += PageClassifier.MAX_BATCH) {
                c.classify(mem, p, (int) Math.min(PageClassifier.MAX_BATCH, r.endPageIndex() - p), round, out);
            }
        }
        return c.stats().dispensablePages();
    }

    private static long kernel(MemoryMix m, int kind) {
        MemorySegment h = m.memory.regions().getFirst().host();
        long uniform = 0;
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
        return uniform;
    }
}
