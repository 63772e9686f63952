package io.d3vm.vmm.boot.testguest;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryImage;
import io.d3vm.memory.MemoryRegion;
import io.d3vm.vmm.boot.BootCpuState;
import io.d3vm.vmm.boot.LongMode;
import io.d3vm.vmm.boot.multiboot.MultibootInfo;

import java.util.List;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * Puts the test guest into a VM's memory as guest/README.md "Boot contract" says: the PT_LOAD segments (bss
 * zeroed), the long-mode GDT and page tables ({@link LongMode#setUp}), a Multiboot v1 info
 * structure at {@link #INFO_ADDR} with the memory map at {@link #MMAP_ADDR} and the command line at
 * {@link #CMDLINE_ADDR}, and — for the {@code image} workload — a memory image above 16 MiB.
 * Returns the boot vCPU state: {@code entry64}, RDI = info address, RAX = {@link #MULTIBOOT_MAGIC}.
 * Used by the CLI's {@code run --guest test:...}.
 */
public final class TestGuestLoader {
    public static final long INFO_ADDR = MultibootInfo.INFO_ADDR;
    public static final long MMAP_ADDR = MultibootInfo.MMAP_ADDR;
    public static final long CMDLINE_ADDR = MultibootInfo.CMDLINE_ADDR;
    public static final long MULTIBOOT_MAGIC = MultibootInfo.BOOTLOADER_MAGIC;
    /** Where an image goes when the spec gives no {@code image=} address: the workloads' start. */
    public static final long DEFAULT_IMAGE_ADDR = 16L << 20;


    /** What was loaded and how to start it. */
    public record Boot(BootCpuState cpu, long rax, String commandLine, TestGuestSpec spec) {}

    private TestGuestLoader() {}

    /**
     * Loads {@code image} for {@code spec}. With an {@code imageFile} (raw or ELF core) its memory
     * is copied to the spec's {@code image=} address (default 16 MiB), and {@code image=} is set on
     * the command line.
     */
    public static Boot load(GuestMemory memory, TestGuestImage image, TestGuestSpec spec, MemoryImage imageFile) {
        if (memory.totalBytes() != spec.memBytes()) {
            throw new IllegalArgumentException("guest memory is " + memory.totalBytes() + " bytes but the spec says " + spec.memBytes());
        }
        MemoryRegion low = memory.regions().getFirst();
        if (low.guestPhysAddr() != 0 || low.size() < TestGuestImage.LOAD_MAX) {
            throw new IllegalArgumentException("the test guest needs RAM from 0 to at least 16 MiB");
        }
        byte[] file = image.bytes();
        for (TestGuestImage.Segment s : image.segments()) {
            MemorySegment dst = memory.slice(s.paddr(), s.memSize());
            MemorySegment.copy(file, (int) s.fileOffset(), dst, JAVA_BYTE, 0, (int) s.fileSize());
            dst.asSlice(s.fileSize()).fill((byte) 0);
        }
        TestGuestSpec effective = spec;
        if (imageFile != null) {
            effective = placeImage(memory, spec, imageFile);
        }
        String cmdline = effective.commandLine();
        writeMultibootInfo(memory, cmdline);
        BootCpuState cpu = LongMode.setUp(memory, image.entry64()).withEntry(image.entry64(), 0, 0, INFO_ADDR);
        return new Boot(cpu, MULTIBOOT_MAGIC, cmdline, effective);
    }

    private static TestGuestSpec placeImage(GuestMemory memory, TestGuestSpec spec, MemoryImage img) {
        long bytes = 0;
        for (MemoryImage.Block b : img.blocks()) {
            bytes += b.size();
        }
        long size = (bytes + GuestMemory.PAGE_MASK) & ~GuestMemory.PAGE_MASK;
        if (size == 0) {
            throw new IllegalArgumentException("memory image " + img.path() + " is empty");
        }
        long addr = DEFAULT_IMAGE_ADDR;
        String given = spec.params().get("image");
        if (given != null) {
            String[] p = given.split(":");
            try {
                if (p.length != 2 || !p[0].startsWith("0x") || !p[1].startsWith("0x")) {
                    throw new NumberFormatException();
                }
                addr = Long.parseUnsignedLong(p[0].substring(2), 16);
                long givenSize = Long.parseUnsignedLong(p[1].substring(2), 16);
                if (givenSize != size) {
                    throw new IllegalArgumentException("image=" + given + " says 0x" + Long.toHexString(givenSize)
                            + " bytes but " + img.path() + " holds 0x" + Long.toHexString(size));
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("image=" + given + " is not 0x<addr>:0x<size>");
            }
        }
        if (addr < DEFAULT_IMAGE_ADDR || (addr & GuestMemory.PAGE_MASK) != 0) {
            throw new IllegalArgumentException(String.format("image address 0x%x must be page aligned and at or above 16 MiB", addr));
        }
        MemorySegment dst;
        try {
            dst = memory.slice(addr, size);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(String.format("memory image of %d MiB at 0x%x does not fit in the guest's RAM"
                    + " (mem=%s): give the guest more memory", size >> 20, addr, TestGuestSpec.formatSize(memory.totalBytes())));
        }
        long off = 0;
        GuestMemory src = img.memory();
        for (long page = 0; page < src.pageCount() && off < size; page++) {
            MemorySegment p = src.page(page);
            long n = Math.min(p.byteSize(), size - off);
            MemorySegment.copy(p, 0, dst, off, n);
            off += n;
        }
        return spec.withParam("image", "0x" + Long.toHexString(addr) + ":0x" + Long.toHexString(size));
    }

    /** Multiboot v1 info (flags: mem, cmdline, mmap), its memory map and the command line ({@link MultibootInfo}). */
    static void writeMultibootInfo(GuestMemory memory, String cmdline) {
        MultibootInfo.write(memory, cmdline, false, List.of());
    }
}
