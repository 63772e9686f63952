package io.d3vm.vmm.boot.linux;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryLayout;
import io.d3vm.vmm.boot.BootCpuState;
import io.d3vm.vmm.boot.LongMode;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Loads an x86-64 Linux kernel into guest memory by the Linux boot protocol
 * ({@code Documentation/arch/x86/boot.rst}, "64-bit boot protocol") and returns the vCPU state for
 * its 64-bit entry. The VMM's {@code run --kernel} path calls it; tests call it on plain memory.
 * The kernel is a bzImage (entered at its decompressor's startup_64) or the uncompressed ELF
 * {@code vmlinux} ({@link VmlinuxElf}: segments at their physical addresses, entered at e_entry,
 * with a setup header the loader writes as a bzImage would carry it).
 *
 * <p>Guest-physical placement (addresses below 1 MiB as Firecracker uses them):
 * <pre>
 *   0x00500           GDT (LongMode): __BOOT_CS 0x10, __BOOT_DS 0x18
 *   0x07000           boot_params (zero page)            -> RSI
 *   0x08ff0           boot stack top                      -> RSP
 *   0x09000..0x0efff  identity page tables, 4 GiB (LongMode) -> CR3
 *   0x20000           command line (NUL terminated)
 *   0x9fc00           MP table (MpTable): CPUs, I/O APIC, ISA interrupt routing
 *   pref_address      protected-mode kernel (16 MiB for Debian), aligned to kernel_alignment;
 *                     the kernel needs init_size bytes from there; entry = address + 0x200
 *   high              initramfs: as high as RAM, initrd_addr_max and the 4 GiB identity map
 *                     allow, page aligned, never inside the kernel's init_size area
 * </pre>
 * The boot protocol wants the kernel, boot_params, command line and initramfs identity mapped:
 * everything is placed below {@link LongMode#IDENTITY_MAPPED}.
 */
public final class LinuxLoader {
    public static final long BOOT_PARAMS_ADDR = 0x7000;
    public static final long BOOT_STACK_POINTER = 0x8ff0;
    public static final long CMDLINE_ADDR = 0x20000;
    /** The command line must end (with its NUL) before the EBDA; the kernel's cmdline_size is usually lower. */
    public static final long CMDLINE_MAX_BYTES = E820Entry.EBDA_START - CMDLINE_ADDR;
    /** Kernels must not load below 1 MiB (boot.rst: the protected-mode kernel's minimum address). */
    static final long MIN_KERNEL_ADDR = 0x100000;

    private static final long COPY_CHUNK = 64L << 20;

    private LinuxLoader() {}

    /**
     * Loads {@code kernel} (and {@code initrd}) into {@code memory}, writes boot_params, the memory
     * map, the command line, GDT and page tables, and returns how to enter the kernel.
     *
     * @throws LinuxBootException when a file is missing or unreadable, the kernel is not a usable
     *                            bzImage, the command line is too long, or memory is too small
     */
    public static LinuxBoot load(GuestMemory memory, Path kernel, Optional<Path> initrd, String cmdline) {
        return load(memory, kernel, initrd, cmdline, 1);
    }

    /**
     * As {@link #load(GuestMemory, Path, Optional, String)} for a guest with {@code vcpus} vCPUs
     * (APIC IDs 0..vcpus-1, described to the kernel by an {@link MpTable}).
     */
    public static LinuxBoot load(GuestMemory memory, Path kernel, Optional<Path> initrd, String cmdline, int vcpus) {
        MemoryLayout layout = memory.layout();
        try (FileChannel kf = open(kernel, "kernel")) {
            Plan plan = plan(kf, layout, kernel, initrd, cmdline, vcpus);
            SetupHeader header = plan.header();
            // Nothing is written before every check has passed.
            if (plan.elf() == null) {
                copyFromFile(kf, header.setupBytes(), header.kernelBytes(), memory, plan.kernelAddr(), kernel);
            } else {
                for (VmlinuxElf.Segment seg : plan.elf().segments()) {
                    copyFromFile(kf, seg.offset(), seg.fileSize(), memory, seg.paddr(), kernel);
                    // bss: guest memory may hold an earlier boot's bytes.
                    memory.slice(seg.paddr() + seg.fileSize(), seg.memSize() - seg.fileSize()).fill((byte) 0);
                }
            }
            if (initrd.isPresent()) {
                try (FileChannel rf = open(initrd.get(), "initramfs")) {
                    if (rf.size() != plan.initrdSize()) {
                        throw new LinuxBootException("initramfs " + initrd.get() + " changed size while it was being loaded");
                    }
                    copyFromFile(rf, 0, plan.initrdSize(), memory, plan.initrdAddr(), initrd.get());
                }
            }

            byte[] cmdlineBytes = plan.cmdline();
            MemorySegment cmd = memory.slice(CMDLINE_ADDR, cmdlineBytes.length + 1L);
            MemorySegment.copy(MemorySegment.ofArray(cmdlineBytes), 0, cmd, 0, cmdlineBytes.length);
            cmd.set(java.lang.foreign.ValueLayout.JAVA_BYTE, cmdlineBytes.length, (byte) 0);

            MpTable.write(memory, vcpus);
            List<E820Entry> e820 = E820Entry.forLayout(layout);
            BootParams.write(memory.slice(BOOT_PARAMS_ADDR, BootParams.SIZE), header, CMDLINE_ADDR,
                    plan.initrdAddr(), plan.initrdSize(), e820);

            long entry = plan.entry();
            BootCpuState cpu = LongMode.setUp(memory, entry).withEntry(entry, BOOT_STACK_POINTER, BOOT_PARAMS_ADDR, 0);
            return new LinuxBoot(cpu, header, plan.kernelAddr(), header.kernelBytes(), plan.initrdAddr(), plan.initrdSize(),
                    BOOT_PARAMS_ADDR, CMDLINE_ADDR, cmdline, e820);
        } catch (IOException e) {
            // Reads report their own file; this is the kernel's size query or a close.
            throw new LinuxBootException("cannot load " + kernel + ": " + e, e);
        }
    }

    /**
     * Runs every check {@link #load} makes (files, formats, command line, vCPUs, memory size and
     * placement) without guest memory, so a VMM can reject bad arguments before it creates a VM.
     *
     * @return one line describing the kernel and where it would go
     * @throws LinuxBootException as {@link #load} would
     */
    public static String check(MemoryLayout layout, Path kernel, Optional<Path> initrd, String cmdline, int vcpus) {
        try (FileChannel kf = open(kernel, "kernel")) {
            Plan p = plan(kf, layout, kernel, initrd, cmdline, vcpus);
            return String.format("%s, boot protocol %s, loads at 0x%x (%d MiB with init_size), entry 0x%x%s",
                    p.elf() == null ? "bzImage" : "ELF vmlinux", p.header().versionString(), p.kernelAddr(),
                    ceilMiB(p.header().initSize()), p.entry(),
                    p.initrdSize() == 0 ? "" : String.format(", initramfs %d KiB at 0x%x", p.initrdSize() >> 10, p.initrdAddr()));
        } catch (IOException e) {
            throw new LinuxBootException("cannot read " + kernel + ": " + e, e);
        }
    }

    /** Where everything goes; every value checked. */
    private record Plan(SetupHeader header, VmlinuxElf elf, long kernelAddr, long entry, long initrdAddr, long initrdSize,
                        byte[] cmdline) {}

    private static Plan plan(FileChannel kf, MemoryLayout layout, Path kernel, Optional<Path> initrd, String cmdline, int vcpus)
            throws IOException {
        if (vcpus < 1 || vcpus > MpTable.MAX_CPUS) {
            throw new LinuxBootException("a Linux guest can have 1 to " + MpTable.MAX_CPUS + " vCPUs, not " + vcpus);
        }
        requireLowMemory(layout);
        byte[] cmdlineBytes = checkCmdline(cmdline);

        long fileSize = kf.size();
        byte[] head = new byte[(int) Math.min(fileSize, SetupHeader.MAX_HEADER_END)];
        readFully(kf, ByteBuffer.wrap(head), 0, kernel);
        // Two kernel formats: a bzImage (its decompressor runs first) or the ELF vmlinux inside it.
        SetupHeader header;
        VmlinuxElf elf = null;
        long kernelAddr, entry;
        if (VmlinuxElf.isElf(head)) {
            elf = VmlinuxElf.parse(Arrays.copyOf(head, Math.min(head.length, VmlinuxElf.EHDR_BYTES)), (off, len) -> {
                byte[] b = new byte[len];
                readFully(kf, ByteBuffer.wrap(b), off, kernel);
                return b;
            }, fileSize, kernel.toString());
            header = SetupHeader.forVmlinux(elf.start(), elf.end() - elf.start());
            kernelAddr = elf.start();
            entry = elf.entry();
        } else {
            header = SetupHeader.parse(head, fileSize, kernel.toString());
            kernelAddr = kernelAddress(header);
            entry = kernelAddr + SetupHeader.ENTRY_64_OFFSET;
        }

        if (cmdlineBytes.length > header.cmdlineSize()) {
            throw new LinuxBootException("the command line is " + cmdlineBytes.length + " bytes; this kernel accepts at most "
                    + header.cmdlineSize() + " (cmdline_size)");
        }

        long kernelEnd = kernelAddr + header.initSize();
        MemoryLayout.Range kernelRange = rangeHolding(layout, kernelAddr, header.initSize());
        if (kernelRange == null || kernelEnd > LongMode.IDENTITY_MAPPED) {
            throw new LinuxBootException(String.format(
                    "guest memory of %d MiB is too small for %s: it loads at %d MiB and needs %d MiB (init_size) from there, "
                            + "so at least %d MiB of contiguous RAM from address 0 (plus room for an initramfs); use a larger --mem",
                    layout.totalBytes() >> 20, kernel, kernelAddr >> 20, ceilMiB(header.initSize()), ceilMiB(kernelEnd)));
        }

        long initrdAddr = 0, initrdSize = 0;
        if (initrd.isPresent()) {
            try (FileChannel rf = open(initrd.get(), "initramfs")) {
                initrdSize = rf.size();
            }
            if (initrdSize == 0) {
                throw new LinuxBootException("initramfs " + initrd.get() + " is empty");
            }
            initrdAddr = initrdAddress(layout, header, kernelAddr, kernelEnd, initrdSize, initrd.get());
        }
        return new Plan(header, elf, kernelAddr, entry, initrdAddr, initrdSize, cmdlineBytes);
    }

    /** pref_address, moved up to kernel_alignment (and 1 MiB) when the kernel is relocatable. */
    static long kernelAddress(SetupHeader h) {
        if (!h.relocatable()) {
            return h.prefAddress();
        }
        long a = Math.max(h.prefAddress(), MIN_KERNEL_ADDR);
        return alignUp(a, h.kernelAlignment());
    }

    /**
     * The highest page-aligned address where {@code size} bytes of initramfs fit: inside one RAM
     * range above 1 MiB, ending at or below initrd_addr_max + 1 and the identity map, and outside
     * the kernel's [load address, + init_size) area. High, as boot loaders put it, so the kernel's
     * decompression and early allocations at the bottom of memory don't collide with it.
     */
    static long initrdAddress(MemoryLayout layout, SetupHeader h, long kernelAddr, long kernelEnd, long size, Path what) {
        long limit = Math.min(h.initrdAddrMax() + 1, LongMode.IDENTITY_MAPPED);
        List<long[]> free = new ArrayList<>();
        for (MemoryLayout.Range r : layout.ranges()) {
            long start = Math.max(r.guestPhysAddr(), MIN_KERNEL_ADDR);
            long end = Math.min(r.end(), limit);
            // Cut the kernel's area out of the range.
            addFree(free, start, Math.min(end, kernelAddr));
            addFree(free, Math.max(start, kernelEnd), end);
        }
        long largest = 0;
        for (int i = free.size() - 1; i >= 0; i--) {
            long start = free.get(i)[0], end = free.get(i)[1];
            long addr = (end - size) & ~GuestMemory.PAGE_MASK;
            if (end - start >= size && addr >= start) {
                return addr;
            }
            largest = Math.max(largest, end - start);
        }
        throw new LinuxBootException(String.format(
                "initramfs %s (%d MiB) does not fit: the largest free RAM below the initramfs limit 0x%x, outside the kernel, "
                        + "is %d MiB; use a larger --mem or a smaller initramfs",
                what, ceilMiB(size), limit, largest >> 20));
    }

    private static void addFree(List<long[]> free, long start, long end) {
        if (end > start) {
            free.add(new long[] {start, end});
        }
    }

    private static MemoryLayout.Range rangeHolding(MemoryLayout layout, long addr, long length) {
        for (MemoryLayout.Range r : layout.ranges()) {
            if (addr >= r.guestPhysAddr() && addr + length <= r.end()) {
                return r;
            }
        }
        return null;
    }

    private static void requireLowMemory(MemoryLayout layout) {
        MemoryLayout.Range first = layout.ranges().getFirst();
        if (first.guestPhysAddr() != 0 || first.end() < E820Entry.HIGH_MEMORY) {
            throw new LinuxBootException("guest memory must be one range from address 0 past 1 MiB for the boot "
                    + "structures (boot_params, page tables, command line, MP table); its first range is [0x"
                    + Long.toHexString(first.guestPhysAddr()) + ", 0x" + Long.toHexString(first.end()) + ")");
        }
    }

    private static byte[] checkCmdline(String cmdline) {
        byte[] b = cmdline.getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < cmdline.length(); i++) {
            char c = cmdline.charAt(i);
            if (c < 0x20 || c > 0x7e) {
                throw new LinuxBootException("the kernel command line may hold printable ASCII only; character "
                        + i + " is U+" + String.format("%04X", (int) c));
            }
        }
        if (b.length + 1 > CMDLINE_MAX_BYTES) {
            throw new LinuxBootException("the command line is " + b.length + " bytes; at most " + (CMDLINE_MAX_BYTES - 1) + " fit");
        }
        return b;
    }

    private static FileChannel open(Path file, String what) {
        if (!Files.exists(file)) {
            throw new LinuxBootException(what + " " + file + " does not exist"
                    + (what.equals("kernel") ? " (scripts/fetch-linux.sh puts one at build/linux/vmlinuz)"
                    : " (scripts/make-initramfs.sh builds build/linux/initramfs.cpio.gz)"));
        }
        if (!Files.isRegularFile(file)) {
            throw new LinuxBootException(what + " " + file + " is not a regular file");
        }
        try {
            return FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new LinuxBootException(what + " " + file + " does not exist", e);
        } catch (IOException e) {
            throw new LinuxBootException("cannot open " + what + " " + file + ": " + e, e);
        }
    }

    /** Copies {@code length} bytes at file offset {@code from} to guest-physical {@code gpa}. */
    private static void copyFromFile(FileChannel ch, long from, long length, GuestMemory memory, long gpa, Path what) {
        // memory.slice checks the whole destination lies in one region before anything is written.
        MemorySegment dst = memory.slice(gpa, length);
        for (long done = 0; done < length; done += COPY_CHUNK) {
            long n = Math.min(COPY_CHUNK, length - done);
            readFully(ch, dst.asSlice(done, n).asByteBuffer(), from + done, what);
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position, Path what) {
        long pos = position;
        while (buf.hasRemaining()) {
            int n;
            try {
                n = ch.read(buf, pos);
            } catch (IOException e) {
                throw new LinuxBootException("cannot read " + what + ": " + e, e);
            }
            if (n < 0) {
                throw new LinuxBootException(what + " shrank while it was being loaded (end of file at " + pos + ")");
            }
            pos += n;
        }
    }

    private static long alignUp(long v, long alignment) {
        return (v + alignment - 1) & -alignment;
    }

    private static long ceilMiB(long bytes) {
        return (bytes + (1L << 20) - 1) >> 20;
    }
}
