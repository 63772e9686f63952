package io.d3vm.vmm.boot.linux;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryLayout;
import io.d3vm.memory.Sizes;
import io.d3vm.vmm.boot.BootEntry;
import io.d3vm.vmm.boot.PreparedGuest;

import java.nio.file.Path;
import java.util.Optional;

/**
 * A Linux kernel (bzImage or ELF vmlinux) with an optional initramfs as a {@link PreparedGuest}:
 * {@link #prepare} runs every check {@link LinuxLoader} makes (file, format, command line, memory
 * size and placement) before any VM exists.
 */
public final class LinuxGuestBoot implements PreparedGuest {
    /** The line the project's initramfs prints once user space runs (scripts/initramfs-init.sh). */
    public static final String BOOT_LINE = "d3vm-linux: init ok";

    private final MemoryLayout layout;
    private final Path kernel;
    private final Optional<Path> initramfs;
    private final String cmdline;
    private final int vcpus;
    private final String plan;

    private LinuxGuestBoot(MemoryLayout layout, Path kernel, Optional<Path> initramfs, String cmdline, int vcpus, String plan) {
        this.layout = layout;
        this.kernel = kernel;
        this.initramfs = initramfs;
        this.cmdline = cmdline;
        this.vcpus = vcpus;
        this.plan = plan;
    }

    /** @throws LinuxBootException saying what is wrong with the kernel, initramfs, command line or memory size */
    public static LinuxGuestBoot prepare(MemoryLayout layout, Path kernel, Optional<Path> initramfs, String cmdline, int vcpus) {
        String plan = LinuxLoader.check(layout, kernel, initramfs, cmdline, vcpus);
        return new LinuxGuestBoot(layout, kernel, initramfs, cmdline, vcpus, plan);
    }

    @Override
    public long memBytes() {
        return layout.totalBytes();
    }

    @Override
    public String description() {
        return "linux:" + kernel.getFileName() + ",mem=" + Sizes.compact(memBytes()) + (vcpus > 1 ? ",vcpus=" + vcpus : "");
    }

    @Override
    public Loaded load(GuestMemory memory) {
        LinuxBoot b = LinuxLoader.load(memory, kernel, initramfs, cmdline, vcpus);
        return new Loaded(new BootEntry.LongMode64(b.cpu(), 0), plan + "; " + b.summary());
    }

    @Override
    public String bootLine() {
        return BOOT_LINE;
    }
}
