package io.d3vm.vmm.boot.multiboot;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryLayout;
import io.d3vm.memory.Sizes;
import io.d3vm.vmm.boot.BootEntry;
import io.d3vm.vmm.boot.PreparedGuest;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * A Multiboot v1 kernel with its command line and modules as a {@link PreparedGuest}: {@link #prepare}
 * reads the files, validates the header ({@link MultibootKernel#parse}) and places everything in
 * the guest's RAM — the kernel where it asks to be, each module page-aligned above it — before any
 * VM exists, so a bad file or a guest too small is a bad argument. {@link #load} then writes the
 * kernel, the modules, a GDT and the information structure ({@link MultibootInfo}), and enters in
 * 32-bit protected mode with EAX = 0x2BADB002 and EBX = the structure's address.
 */
public final class MultibootGuestBoot implements PreparedGuest {
    /** The flat GDT the entry's cached segments match: null, null, code32 0x10, data32 0x18, TSS32 0x20. */
    static final long GDT_ADDR = 0x500;
    private static final long[] GDT = {0, 0, 0x00CF9B000000FFFFL, 0x00CF93000000FFFFL, 0x00008B0000000067L};
    private static final long PAGE = 4096;

    /** A module file, its string (the file as named, then its arguments), and where it goes. */
    record PlacedModule(Path file, String string, long start, long size) {}

    private final MemoryLayout layout;
    private final Path kernelFile;
    private final byte[] kernelBytes;
    private final MultibootKernel kernel;
    private final String cmdline;
    private final List<PlacedModule> modules;
    private final int vcpus;

    private MultibootGuestBoot(MemoryLayout layout, Path kernelFile, byte[] kernelBytes, MultibootKernel kernel, String cmdline,
                               List<PlacedModule> modules, int vcpus) {
        this.layout = layout;
        this.kernelFile = kernelFile;
        this.kernelBytes = kernelBytes;
        this.kernel = kernel;
        this.cmdline = cmdline;
        this.modules = modules;
        this.vcpus = vcpus;
    }

    /** Whether {@code file} has a Multiboot header's magic in its first 8 KiB (then it boots as Multiboot). */
    public static boolean isMultiboot(Path file) {
        try (var in = Files.newInputStream(file)) {
            return MultibootKernel.hasMagic(in.readNBytes(MultibootKernel.SEARCH));
        } catch (IOException e) {
            return false; // unreadable: the Linux loader's checks say why
        }
    }

    /**
     * @param moduleSpecs {@code FILE[,ARGS]} each: the file loaded as a module, its string "FILE ARGS"
     * @throws IllegalArgumentException saying what is wrong with which file, field or size
     */
    public static MultibootGuestBoot prepare(MemoryLayout layout, Path kernel, String cmdline, List<String> moduleSpecs, int vcpus)
            throws IOException {
        byte[] bytes = readFile(kernel, "--kernel");
        MultibootKernel k = MultibootKernel.parse(bytes, kernel.getFileName().toString());
        long ramEnd = layout.ranges().getFirst().guestPhysAddr() == 0 ? layout.ranges().getFirst().size() : 0;
        for (MultibootKernel.Segment s : k.segments()) {
            if (s.end() > ramEnd) {
                throw new IllegalArgumentException(String.format("Multiboot kernel %s loads up to 0x%x, beyond the guest's %s of"
                        + " RAM below the PCI hole (0x%x): give it more --mem", kernel.getFileName(), s.end(), Sizes.format(ramEnd), ramEnd));
            }
        }
        List<PlacedModule> placed = new ArrayList<>();
        List<String> strings = new ArrayList<>();
        long next = align(k.end());
        for (String spec : moduleSpecs) {
            int comma = spec.indexOf(',');
            Path file = Path.of(comma < 0 ? spec : spec.substring(0, comma));
            String args = comma < 0 ? "" : spec.substring(comma + 1);
            long size = readFile(file, "--module").length;
            long start = next;
            if (start + size > ramEnd) {
                throw new IllegalArgumentException(String.format("--module %s (%s) does not fit below 0x%x after the kernel and the"
                        + " modules before it: give the guest more --mem", file, Sizes.format(size), ramEnd));
            }
            String string = args.isEmpty() ? file.toString() : file + " " + args;
            placed.add(new PlacedModule(file, string, start, size));
            strings.add(string);
            next = align(start + Math.max(size, 1));
        }
        // As GRUB and QEMU do, the kernel's command line starts with the kernel as it was named.
        String full = kernel + " " + cmdline;
        MultibootInfo.check(full, strings);
        return new MultibootGuestBoot(layout, kernel, bytes, k, full, List.copyOf(placed), vcpus);
    }

    private static long align(long a) {
        return (a + PAGE - 1) & ~(PAGE - 1);
    }

    private static byte[] readFile(Path file, String option) throws IOException {
        try {
            if (Files.size(file) > 1L << 30) {
                throw new IllegalArgumentException(option + " " + file + " is larger than 1 GiB");
            }
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(option + " " + file + ": no such file");
        } catch (IOException e) {
            throw new IllegalArgumentException(option + " " + file + ": cannot read it (" + e.getMessage() + ")");
        }
    }

    public MultibootKernel kernel() {
        return kernel;
    }

    @Override
    public long memBytes() {
        return layout.totalBytes();
    }

    /** {@code multiboot:NAME,mem=SIZE} (and {@code vcpus=N} above one): what a destination rebuilds the VM from. */
    @Override
    public String description() {
        return "multiboot:" + kernelFile.getFileName() + ",mem=" + Sizes.compact(memBytes()) + (vcpus > 1 ? ",vcpus=" + vcpus : "");
    }

    @Override
    public Loaded load(GuestMemory memory) throws IOException {
        for (MultibootKernel.Segment s : kernel.segments()) {
            MemorySegment dst = memory.slice(s.paddr(), s.memSize());
            MemorySegment.copy(kernelBytes, (int) s.fileOffset(), dst, JAVA_BYTE, 0, (int) s.fileSize());
            dst.asSlice(s.fileSize()).fill((byte) 0);
        }
        List<MultibootInfo.Module> mods = new ArrayList<>();
        for (PlacedModule m : modules) {
            byte[] data = Files.readAllBytes(m.file());
            if (data.length != m.size()) {
                throw new IOException("--module " + m.file() + " changed size since it was checked");
            }
            MemorySegment.copy(data, 0, memory.slice(m.start(), Math.max(1, data.length)), JAVA_BYTE, 0, data.length);
            mods.add(new MultibootInfo.Module(m.start(), m.start() + m.size(), m.string()));
        }
        MemorySegment gdt = memory.slice(GDT_ADDR, GDT.length * 8L);
        for (int i = 0; i < GDT.length; i++) {
            gdt.set(JAVA_LONG_UNALIGNED, i * 8L, GDT[i]);
        }
        int flags = MultibootInfo.write(memory, cmdline, true, mods);
        BootEntry.Protected32 entry = new BootEntry.Protected32(kernel.entry(), MultibootInfo.BOOTLOADER_MAGIC, MultibootInfo.INFO_ADDR,
                GDT_ADDR, GDT.length * 8 - 1);
        return new Loaded(entry, String.format("Multiboot kernel %s (%s), entry 0x%x in 32-bit protected mode, info 0x%x flags 0x%x,"
                        + " %d module(s), command line \"%s\"", kernelFile.getFileName(), kernel.aout() ? "a.out kludge" : "ELF",
                kernel.entry(), MultibootInfo.INFO_ADDR, flags, mods.size(), cmdline));
    }

    /** The console line that says the guest is up: unknown for a kernel d3vm did not write, so its first byte counts. */
    @Override
    public String bootLine() {
        return "";
    }
}
