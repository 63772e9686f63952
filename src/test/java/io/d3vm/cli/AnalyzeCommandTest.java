package io.d3vm.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.d3vm.memory.ElfCoreBuilder;
import io.d3vm.migration.wire.FrameBuffer;
import io.d3vm.migration.wire.Wire;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

class AnalyzeCommandTest {
    private static final int PAGE = 4096;

    @TempDir
    Path dir;

    private record Run(int exit, String out, String err) {}

    /** Runs the CLI the way the launcher does, capturing what it prints. */
    private static Run cli(String... args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int exit = Main.run(args);
            return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    /**
     * 64 pages: 0-39 zero, 40-49 uniform 0xcc, 50-53 uniform 0xff, 54-63 normal (random; one
     * with a single non-zero byte at its end).
     */
    private static byte[] mixedImage(long seed) {
        byte[] b = new byte[64 * PAGE];
        Arrays.fill(b, 40 * PAGE, 50 * PAGE, (byte) 0xcc);
        Arrays.fill(b, 50 * PAGE, 54 * PAGE, (byte) 0xff);
        Random rnd = new Random(seed);
        byte[] noise = new byte[9 * PAGE];
        rnd.nextBytes(noise);
        System.arraycopy(noise, 0, b, 54 * PAGE, noise.length);
        b[64 * PAGE - 1] = 1;
        return b;
    }

    @Test
    void shouldReportTheClassMixAndBytesOfARawImageAsJson() throws IOException {
        Path img = dir.resolve("mixed.img");
        Files.write(img, mixedImage(5));
        Run r = cli("analyze", img.toString(), "--json", "--passes", "1");
        assertThat(r.exit()).as(r.err()).isZero();
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertThat(j.get("format").asText()).isEqualTo("raw");
        assertThat(j.at("/pages/zero").asLong()).isEqualTo(40);
        assertThat(j.at("/pages/uniform").asLong()).isEqualTo(14);
        assertThat(j.at("/pages/normal").asLong()).isEqualTo(10);
        assertThat(j.at("/pages/total").asLong()).isEqualTo(64);
        assertThat(j.at("/uniform-patterns/0/pattern").asText()).isEqualTo("0xcccccccccccccccc");
        assertThat(j.at("/uniform-patterns/0/pages").asLong()).isEqualTo(10);
        assertThat(j.at("/uniform-patterns/1/pattern").asText()).isEqualTo("0xffffffffffffffff");
        // One batch (64 pages, one region): none sends one NORMAL run of 64 pages; full and d3 four
        // runs (zero, uniform 0xcc, uniform 0xff, normal) and the 10 normal pages. Both are exactly
        // what the sender's encoder writes for those classes.
        byte[] all = new byte[64];
        assertThat(j.at("/detectors/none/bytes").asLong()).isEqualTo(encodedBytes(img, all, new long[64]))
                .isEqualTo(8 + 16 + 16 + 64L * PAGE);
        byte[] classes = new byte[64];
        long[] patterns = new long[64];
        Arrays.fill(classes, 0, 40, (byte) Wire.CLASS_ZERO);
        Arrays.fill(classes, 40, 54, (byte) Wire.CLASS_UNIFORM);
        Arrays.fill(patterns, 40, 50, 0xccccccccccccccccL);
        Arrays.fill(patterns, 50, 54, -1L);
        long expected = encodedBytes(img, classes, patterns);
        assertThat(expected).isEqualTo(8 + 16 + 4 * 16 + 10L * PAGE);
        assertThat(j.at("/detectors/full/bytes").asLong()).isEqualTo(expected);
        assertThat(j.at("/detectors/d3/bytes").asLong()).isEqualTo(expected);
        assertThat(j.at("/detectors/d3/dispensable-pages").asLong()).isEqualTo(54);
        assertThat(j.at("/detectors/full/full-checks").asLong()).isEqualTo(64);
        assertThat(j.at("/detectors/none/full-checks").asLong()).isZero();
    }

    @Test
    void shouldReportDuplicatePagesAndTheCompressedSizeOfTheRest() throws IOException {
        // 64 pages: 0-15 text (distinct, compressible), 16-31 repeat them, 32-39 random, 40-63 zero.
        byte[] b = new byte[64 * PAGE];
        Random rnd = new Random(9);
        for (int i = 0; i < 16 * PAGE; i++) {
            b[i] = (byte) ('a' + rnd.nextInt(8));
        }
        System.arraycopy(b, 0, b, 16 * PAGE, 16 * PAGE);
        byte[] noise = new byte[8 * PAGE];
        rnd.nextBytes(noise);
        System.arraycopy(noise, 0, b, 32 * PAGE, noise.length);
        Path img = dir.resolve("dup.img");
        Files.write(img, b);
        Run r = cli("analyze", img.toString(), "--json", "--passes", "1", "--detector", "d3");
        assertThat(r.exit()).as(r.err()).isZero();
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertThat(j.at("/pages/normal").asLong()).isEqualTo(40);
        assertThat(j.at("/savings/duplicate-pages").asLong()).as("the repeated text pages").isEqualTo(16);
        assertThat(j.at("/savings/unique-normal-pages").asLong()).isEqualTo(24);
        assertThat(j.at("/savings/unique-bytes").asLong()).isEqualTo(24L * PAGE);
        // Text compresses to well under half; the random pages share its batch, so the batch shrinks less.
        assertThat(j.at("/savings/zstd-bytes").asLong()).isLessThan(24L * PAGE * 3 / 4).isPositive();
        assertThat(j.at("/savings/lz4-bytes").asLong()).isLessThan(24L * PAGE).isPositive();
        Run text = cli("analyze", img.toString(), "--passes", "1", "--detector", "d3");
        assertThat(text.out()).contains("beyond D3: 16 of the 40 normal pages repeat an earlier page (40.0%: sent as references)");
    }

    @Test
    void shouldBoundTheBytesByOneStreamThatSeesPagesRepeatNearlyFarApart() throws IOException {
        // 1,536 pages: 0-511 random, 512-1023 zero, 1024-1535 the first 512 each with one byte changed:
        // no two of them in one batch, so batch by batch nothing shrinks; one long stream finds them.
        byte[] b = new byte[1536 * PAGE];
        byte[] noise = new byte[512 * PAGE];
        new Random(11).nextBytes(noise);
        System.arraycopy(noise, 0, b, 0, noise.length);
        System.arraycopy(b, 0, b, 1024 * PAGE, 512 * PAGE);
        for (int p = 1024; p < 1536; p++) {
            b[p * PAGE + 100] ^= 1;
        }
        Path img = dir.resolve("near.img");
        Files.write(img, b);
        Run r = cli("analyze", img.toString(), "--json", "--passes", "1", "--detector", "d3", "--bound");
        assertThat(r.exit()).as(r.err()).isZero();
        JsonNode j = new ObjectMapper().readTree(r.out());
        long unique = 1024L * PAGE;
        assertThat(j.at("/savings/unique-bytes").asLong()).isEqualTo(unique);
        assertThat(j.at("/savings/zstd-bytes").asLong()).as("random batches: raw").isGreaterThan(unique * 99 / 100);
        assertThat(j.at("/savings/bound-bytes").asLong()).as("the near-copies cost next to nothing in one stream")
                .isPositive().isLessThan(unique * 6 / 10);
        assertThat(cli("analyze", img.toString(), "--json", "--passes", "1").out()).as("only when asked for").doesNotContain("bound-bytes");
        assertThat(cli("analyze", img.toString(), "--passes", "1", "--bound").out()).contains("bound: as one zstd-19 stream with a 128 MiB window");
    }

    /** The bytes {@link FrameBuffer#pages} writes for one batch of the whole image with these classes. */
    private static long encodedBytes(Path img, byte[] classes, long[] patterns) throws IOException {
        FrameBuffer fb = new FrameBuffer(Wire.MAX_PAGES_FRAME);
        fb.pages(0, classes.length, classes, patterns, MemorySegment.ofArray(Files.readAllBytes(img)), 0);
        return fb.size();
    }

    @Test
    void shouldAnalyzeAnElfCoreByItsLoadsOnly() throws IOException {
        byte[] low = new byte[4 * PAGE];
        low[3 * PAGE + 100] = 7;                 // pages 0-2 zero, 3 normal
        byte[] high = new byte[2 * PAGE];
        Arrays.fill(high, (byte) 0xcc);          // 2 uniform
        Path core = dir.resolve("core.elf");
        Files.write(core, new ElfCoreBuilder().load(0, low).load(0x100000, high).build());
        Run r = cli("analyze", core.toString(), "--json", "--detector", "d3", "--samples", "4", "--passes", "2");
        assertThat(r.exit()).as(r.err()).isZero();
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertThat(j.get("format").asText()).isEqualTo("elf");
        assertThat(j.at("/pages/zero").asLong()).isEqualTo(3);
        assertThat(j.at("/pages/uniform").asLong()).isEqualTo(2);
        assertThat(j.at("/pages/normal").asLong()).isEqualTo(1);
        assertThat(j.at("/pages/total").asLong()).isEqualTo(6);
        assertThat(j.get("blocks")).hasSize(2);
        assertThat(j.get("samples").asInt()).isEqualTo(4);
        assertThat(j.get("detectors").has("d3")).isTrue();
        assertThat(j.get("detectors").has("none")).isFalse();
    }

    @Test
    void shouldPrintAHumanTable() throws IOException {
        Path img = dir.resolve("mixed.img");
        Files.write(img, mixedImage(9));
        Run r = cli("analyze", img.toString(), "--passes", "1");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("zero 40 (62.5%)", "uniform 14", "normal 10", "total 64",
                "0xcccccccccccccccc x 10", "none", "full", "d3/8", "plain read");
    }

    @Test
    void shouldFailClearlyOnBadFilesAndOptions() throws IOException {
        Path odd = dir.resolve("odd.img");
        Files.write(odd, new byte[PAGE + 1]);
        Run r = cli("analyze", odd.toString());
        assertThat(r.exit()).isEqualTo(2); // a bad input file, as a bad argument
        assertThat(r.err()).contains("not a multiple of 4096");

        byte[] core = new ElfCoreBuilder().load(0, new byte[PAGE]).build();
        Path truncated = dir.resolve("trunc.elf");
        Files.write(truncated, Arrays.copyOf(core, 50));
        assertThat(cli("analyze", truncated.toString()).err()).contains("truncated");

        ByteBuffer.wrap(core).order(ByteOrder.LITTLE_ENDIAN).putLong(ElfCoreBuilder.phdrOffset(1) + 32, 1L << 40);
        Path beyond = dir.resolve("beyond.elf");
        Files.write(beyond, core);
        assertThat(cli("analyze", beyond.toString()).err()).contains("PT_LOAD #1", "beyond the end of the file");

        Path good = dir.resolve("good.img");
        Files.write(good, new byte[PAGE]);
        assertThat(cli("analyze", good.toString(), "--detector", "xor").err()).contains("none, full, d3");
        assertThat(cli("analyze", good.toString(), "--samples", "99").err()).contains("0..64");
        assertThat(cli("analyze", dir.resolve("missing").toString()).err()).contains("missing: no such file");
    }
}
