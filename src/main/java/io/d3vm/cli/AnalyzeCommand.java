package io.d3vm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryImage;
import io.d3vm.migration.detect.Detectors;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code d3vm analyze IMAGE}: classifies every page of a raw memory image or an ELF core (QEMU's
 * {@code dump-guest-memory}) and reports the class mix, the bytes each detector would make a
 * migration send, and what each detector costs against a plain read of the same bytes.
 */
@Command(name = "analyze",
        mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = {"Classify every page of a memory image (raw, or an ELF core from QEMU's dump-guest-memory):",
                "class mix, bytes each detector would send, detector cost."})
final class AnalyzeCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "IMAGE", description = "raw guest RAM (size a multiple of 4096) or an ELF core")
    Path image;

    @Option(names = "--json", description = "print JSON (page counts under \"pages\")")
    boolean json;

    @Option(names = "--detector", split = ",", paramLabel = "NAME", converter = CliValues.DetectorName.class,
            description = "detectors to measure: none, full, d3 (repeatable or comma-separated; default all)")
    List<String> detectors = List.of("none", "full", "d3");

    @Option(names = "--samples", paramLabel = "K", description = "words d3 samples after the first cache line (default ${DEFAULT-VALUE})")
    int samples = Detectors.DEFAULT_SAMPLES;

    @Option(names = "--passes", paramLabel = "N",
            description = "timed passes per detector (thread CPU time), the fastest counts (default ${DEFAULT-VALUE})")
    int passes = 3;

    @Option(names = "--top", paramLabel = "N", description = "uniform patterns to list (default ${DEFAULT-VALUE})")
    int top = 5;

    @Option(names = "--bound", description = {"also compress the unique normal pages as one zstd-19 stream with a 128 MiB window:",
            "a floor for the bytes any migration of this memory sends in practice (slow: ~30-60 s per GiB of guest)"})
    boolean bound;

    @Override
    public Integer call() throws Exception {
        List<String> names = ImageAnalysis.detectorNames(detectors);
        if (passes < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--passes must be at least 1");
        }
        try {
            Detectors.create("d3", samples); // validates --samples with the factory's message
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        MemoryImage opened;
        try {
            opened = MemoryImage.open(image);
        } catch (MemoryImage.ImageException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage()); // a bad input file: exit 2
        }
        try (MemoryImage img = opened) {
            ImageAnalysis.Result r = ImageAnalysis.analyze(img.memory(), names, samples, passes, Math.max(0, top), bound);
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                out.println(toJson(img, r, samples));
            } else {
                printHuman(out, img, r, samples);
            }
            out.flush();
        }
        return 0;
    }

    static String hex(long pattern) {
        return String.format("0x%016x", pattern);
    }

    private static String toJson(MemoryImage img, ImageAnalysis.Result r, int samples) throws Exception {
        ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode root = mapper.createObjectNode();
        root.put("image", img.path().toString());
        root.put("format", img.format().name().toLowerCase(Locale.ROOT));
        root.put("file-bytes", img.fileSize());
        root.put("memory-bytes", r.bytes());
        ArrayNode blocks = root.putArray("blocks");
        for (MemoryImage.Block b : img.blocks()) {
            ObjectNode n = blocks.addObject();
            n.put("gpa", b.guestPhysAddr());
            n.put("file-offset", b.fileOffset());
            n.put("bytes", b.size());
            n.put("missing-bytes", b.missingBytes());
        }
        ObjectNode pages = root.putObject("pages");
        pages.put("zero", r.zero());
        pages.put("uniform", r.uniform());
        pages.put("normal", r.normal());
        pages.put("total", r.total());
        ArrayNode pats = root.putArray("uniform-patterns");
        for (ImageAnalysis.PatternCount p : r.topPatterns()) {
            ObjectNode n = pats.addObject();
            n.put("pattern", hex(p.pattern()));
            n.put("pages", p.pages());
        }
        ImageAnalysis.Savings sv = r.savings();
        ObjectNode savings = root.putObject("savings");
        savings.put("duplicate-pages", sv.duplicatePages());
        savings.put("unique-normal-pages", sv.uniquePages());
        savings.put("unique-bytes", sv.rawBytes());
        savings.put("lz4-bytes", sv.lz4Bytes());
        savings.put("zstd-bytes", sv.zstdBytes());
        savings.put("lz4-ns-per-page", round(sv.lz4Nanos() / (double) Math.max(1, sv.uniquePages())));
        savings.put("zstd-ns-per-page", round(sv.zstdNanos() / (double) Math.max(1, sv.uniquePages())));
        if (sv.boundBytes() >= 0) {
            savings.put("bound-bytes", sv.boundBytes());
            savings.put("bound-cpu-s", round(sv.boundNanos() / 1e9));
        }
        root.put("samples", samples);
        root.put("plain-read-gbps", round(r.bytes() / (double) r.plainReadNanos()));
        ObjectNode dets = root.putObject("detectors");
        long noneBytes = r.noneBytes();
        for (ImageAnalysis.DetectorResult d : r.detectors()) {
            ObjectNode n = dets.putObject(d.name());
            n.put("bytes", d.bytesSent());
            n.put("bytes-vs-none", round((double) d.bytesSent() / noneBytes));
            n.put("normal-pages", d.normalPages());
            n.put("dispensable-pages", d.dispensablePages());
            n.put("ns-per-page", round(d.nsPerPage(r.total())));
            if (reads(d)) {   // none reads nothing: a speed in GB/s would only time its loop
                n.put("gbps", round(d.gbPerSecond(r.bytes())));
                n.put("vs-plain-read", round((double) r.plainReadNanos() / Math.max(1, d.nanos())));
            }
            n.put("sampled-words", d.sampledWords());
            n.put("full-checks", d.fullChecks());
            n.put("sampler-misses", d.samplerMisses());
        }
        return mapper.writeValueAsString(root);
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    private static void printHuman(PrintWriter out, MemoryImage img, ImageAnalysis.Result r, int samples) {
        long total = r.total();
        out.printf(Locale.ROOT, "image   %s (%s, %d block%s, %,d bytes of memory = %,d pages)%n", img.path(),
                img.format() == MemoryImage.Format.ELF ? "ELF core" : "raw", img.blocks().size(),
                img.blocks().size() == 1 ? "" : "s", r.bytes(), total);
        out.printf(Locale.ROOT, "pages   zero %,d (%.1f%%)   uniform %,d (%.1f%%)   normal %,d (%.1f%%)   total %,d%n",
                r.zero(), pct(r.zero(), total), r.uniform(), pct(r.uniform(), total), r.normal(),
                pct(r.normal(), total), total);
        if (!r.topPatterns().isEmpty()) {
            out.print("uniform");
            for (ImageAnalysis.PatternCount p : r.topPatterns()) {
                out.printf(Locale.ROOT, "   %s x %,d", hex(p.pattern()), p.pages());
            }
            out.println();
        }
        double plainGbps = r.bytes() / (double) r.plainReadNanos();
        long noneBytes = r.noneBytes();
        out.printf(Locale.ROOT, "%ndetector  %15s  %7s  %8s  %7s  %9s  %12s  %11s  %9s%n",
                "would send (B)", "vs none", "ns/page", "GB/s", "vs read", "sampled words", "full checks", "false-disp");
        for (ImageAnalysis.DetectorResult d : r.detectors()) {
            String gbps = reads(d) ? String.format(Locale.ROOT, "%.2f", d.gbPerSecond(r.bytes())) : "-";
            String vsRead = reads(d)
                    ? String.format(Locale.ROOT, "%.2fx", (double) r.plainReadNanos() / Math.max(1, d.nanos())) : "-";
            out.printf(Locale.ROOT, "%-8s  %,15d  %6.1f%%  %8.1f  %7s  %9s  %,13d  %,11d  %,9d%n",
                    d.name() + (d.name().equals("d3") ? "/" + samples : ""), d.bytesSent(),
                    100.0 * d.bytesSent() / noneBytes, d.nsPerPage(total), gbps, vsRead, d.sampledWords(),
                    d.fullChecks(), d.samplerMisses());
        }
        ImageAnalysis.Savings sv = r.savings();
        out.printf(Locale.ROOT, "beyond D3: %,d of the %,d normal pages repeat an earlier page (%.1f%%: sent as references);"
                        + " the other %,d bytes take %,d as LZ4 (%.1f%%, %.0f ns/page), %,d as zstd (%.1f%%, %.0f ns/page)%n",
                sv.duplicatePages(), r.normal(), 100.0 * sv.duplicatePages() / Math.max(1, r.normal()), sv.rawBytes(),
                sv.lz4Bytes(), 100.0 * sv.lz4Bytes() / Math.max(1, sv.rawBytes()), sv.lz4Nanos() / (double) Math.max(1, sv.uniquePages()),
                sv.zstdBytes(), 100.0 * sv.zstdBytes() / Math.max(1, sv.rawBytes()), sv.zstdNanos() / (double) Math.max(1, sv.uniquePages()));
        if (sv.boundBytes() >= 0) {
            out.printf(Locale.ROOT, "bound: as one zstd-%d stream with a %d MiB window they take %,d bytes (%.1f%%, %.1f s):"
                            + " about the least any migration of this memory sends%n", ImageAnalysis.BOUND_LEVEL,
                    (1 << ImageAnalysis.BOUND_WINDOW_LOG) >> 20, sv.boundBytes(), 100.0 * sv.boundBytes() / Math.max(1, sv.rawBytes()),
                    sv.boundNanos() / 1e9);
        }
        out.printf(Locale.ROOT, "plain read of the same bytes: %.2f GB/s (the physical limit); times are thread CPU time%n",
                plainGbps);
        out.println("bytes: normal pages x (4096 + 8) + 16 per run of like dispensable pages (+8 per uniform run)");
    }

    private static boolean reads(ImageAnalysis.DetectorResult d) {
        return !d.name().equals("none");
    }

    private static double pct(long part, long total) {
        return total == 0 ? 0 : 100.0 * part / total;
    }
}
