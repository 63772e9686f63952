package io.d3vm.migration.detect;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryImage;
import io.d3vm.memory.MemoryLayout;
import io.d3vm.memory.MemoryRegion;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The memory the detector benchmarks classify: {@code sizeMiB} of anonymous guest memory, every
 * page resident, filled with one page mix:
 * <ul>
 * <li>{@code zero}: all zero; {@code uniform}: all 0xcc.. (the kernel's free-page poison)
 * <li>{@code random}: random bytes; {@code half}: each page zero or random, 50/50
 * <li>{@code sparse}: zero but for one random non-zero word at a random offset
 * <li>{@code zerohead}: first half zero, second half random
 * <li>{@code image}: the first {@code sizeMiB} of a real guest's memory image (raw or ELF core;
 *     {@code -p image=PATH}, else system property {@code d3vm.bench.image}, else
 *     {@code build/images/linux-1g.elf}), copied in block by block (scripts/linux-memory-image.sh)
 * </ul>
 */
@State(Scope.Benchmark)
public class MemoryMix {
    static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @Param({"zero", "random", "half", "sparse", "zerohead", "uniform", "image"})
    public String mix;

    @Param({"1024"})
    public int sizeMiB;

    @Param({""})
    public String image;

    GuestMemory memory;
    long bytes;
    int round;

    @Setup(Level.Trial)
    public void fill() throws IOException {
        bytes = (long) sizeMiB << 20;
        memory = GuestMemory.allocate(MemoryLayout.flat(bytes));
        MemorySegment m = memory.regions().getFirst().host();
        SplittableRandom rnd = new SplittableRandom(0xD3);
        long pages = memory.pageCount();
        switch (mix) {
            case "zero" -> m.fill((byte) 0);
            case "uniform" -> m.fill((byte) 0xcc);
            case "random" -> randomFill(m, rnd);
            case "half" -> {
                for (long p = 0; p < pages; p++) {
                    MemorySegment page = m.asSlice(p << GuestMemory.PAGE_SHIFT, GuestMemory.PAGE_SIZE);
                    if (rnd.nextBoolean()) {
                        randomFill(page, rnd);
                    } else {
                        page.fill((byte) 0);
                    }
                }
            }
            case "sparse" -> {
                m.fill((byte) 0);
                for (long p = 0; p < pages; p++) {
                    m.set(WORD, (p << GuestMemory.PAGE_SHIFT) + 8L * rnd.nextInt(512), rnd.nextLong() | 1);
                }
            }
            case "zerohead" -> {
                for (long p = 0; p < pages; p++) {
                    long o = p << GuestMemory.PAGE_SHIFT;
                    m.asSlice(o, 2048).fill((byte) 0);
                    randomFill(m.asSlice(o + 2048, 2048), rnd);
                }
            }
            case "image" -> copyImage(m);
            default -> throw new IllegalArgumentException("unknown mix '" + mix
                    + "': zero, random, half, sparse, zerohead, uniform, image");
        }
    }

    private static void randomFill(MemorySegment s, SplittableRandom rnd) {
        for (long o = 0; o < s.byteSize(); o += 8) {
            s.set(WORD, o, rnd.nextLong());
        }
    }

    private void copyImage(MemorySegment m) throws IOException {
        String path = !image.isEmpty() ? image : System.getProperty("d3vm.bench.image", "build/images/linux-1g.elf");
        Path file = Path.of(path);
        if (!Files.isRegularFile(file)) {
            String why = "mix 'image' skipped: no memory image at " + file.toAbsolutePath()
                    + " (make one with scripts/linux-memory-image.sh, or pass -p image=PATH)";
            System.err.println(why);
            throw new IllegalStateException(why);
        }
        long filled = 0;
        try (MemoryImage img = MemoryImage.open(file)) {
            for (MemoryRegion r : img.memory().regions()) {
                long n = Math.min(r.size(), bytes - filled);
                MemorySegment.copy(r.host(), 0, m, filled, n);
                filled += n;
                if (filled == bytes) {
                    break;
                }
            }
        }
        // A smaller image leaves the rest zero (resident): say so rather than silently pad.
        m.asSlice(filled).fill((byte) 0);
        if (filled < bytes) {
            System.err.printf("image %s holds %d MiB of memory; the remaining %d MiB are zero%n", file,
                    filled >> 20, (bytes - filled) >> 20);
        }
    }

    private GuestMemory noResidency;

    /** The same memory seen as an image: every page resident without asking the kernel (no mincore). */
    GuestMemory withoutResidency() {
        if (noResidency == null) {
            noResidency = GuestMemory.ofImage(memory.layout(), List.of(memory.regions().getFirst().host()), null);
        }
        return noResidency;
    }

    @TearDown(Level.Trial)
    public void free() {
        memory.close();
    }

    /** Next round number, so d3 varies its sample offsets between invocations as in a migration. */
    int nextRound() {
        round = round % 1_000_000 + 1;
        return round;
    }
}
