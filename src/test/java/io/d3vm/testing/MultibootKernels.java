package io.d3vm.testing;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Multiboot kernels d3vm did not write for itself, assembled for a test from
 * {@code src/test/resources/multiboot/mbk.S} with GNU as and ld (binutils: the build needs them
 * for the test guest anyway): an ELF32 kernel, or a flat binary carrying the a.out-kludge
 * addresses in its header.
 */
public final class MultibootKernels {
    private MultibootKernels() {}

    /** The ELF32 kernel with Multiboot header flags {@code flags}, linked at 1 MiB. */
    public static Path elf(Path dir, int flags) throws IOException, InterruptedException {
        Path o = assemble(dir, flags, false);
        Path elf = dir.resolve("mbk-" + Integer.toHexString(flags) + ".elf");
        run(List.of("ld", "-m", "elf_i386", "-Ttext=0x100000", "-e", "_start", "-o", elf.toString(), o.toString()));
        return elf;
    }

    /** The flat binary with the a.out kludge (flag 16 added to {@code flags}), loaded at 1 MiB. */
    public static Path aout(Path dir, int flags) throws IOException, InterruptedException {
        int f = flags | 0x10000;
        Path o = assemble(dir, f, true);
        Path bin = dir.resolve("mbk-" + Integer.toHexString(f) + ".bin");
        run(List.of("ld", "-m", "elf_i386", "-Ttext=0x100000", "--oformat", "binary", "-e", "_start", "-o", bin.toString(), o.toString()));
        return bin;
    }

    private static Path assemble(Path dir, int flags, boolean aout) throws IOException, InterruptedException {
        Path src = dir.resolve("mbk.S");
        try (InputStream in = MultibootKernels.class.getResourceAsStream("/multiboot/mbk.S")) {
            if (in == null) {
                throw new IOException("test resource /multiboot/mbk.S is missing");
            }
            Files.write(src, in.readAllBytes());
        }
        Path o = dir.resolve("mbk-" + Integer.toHexString(flags) + ".o");
        run(List.of("as", "--32", "--defsym", "FLAGS=" + flags, "--defsym", "AOUT=" + (aout ? 1 : 0), "-o", o.toString(), src.toString()));
        return o;
    }

    private static void run(List<String> cmd) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder(new ArrayList<>(cmd)).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new IOException(cmd.getFirst() + " is not installed (apt-get install -y binutils): " + e.getMessage(), e);
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed:\n" + out);
        }
    }
}
