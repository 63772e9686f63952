package io.d3vm.vmm.boot.linux;

import io.d3vm.vmm.boot.BootCpuState;

import java.util.List;

/**
 * Where {@link LinuxLoader} put a kernel and how to start it; the VMM sets the boot vCPU from
 * {@link #cpu()} and may print the rest.
 *
 * @param cpu               64-bit entry state: RIP = startup_64, RSI = boot_params
 * @param header            the kernel's validated setup header
 * @param kernelAddress     load address of the protected-mode kernel
 * @param kernelBytes       bytes loaded there (the kernel reserves init_size from that address)
 * @param initrdAddress     initramfs address, 0 without one
 * @param initrdBytes       initramfs size, 0 without one
 * @param bootParamsAddress the zero page
 * @param cmdlineAddress    the NUL-terminated command line
 * @param cmdline           the command line as written
 * @param e820              the memory map handed to the kernel
 */
public record LinuxBoot(BootCpuState cpu, SetupHeader header, long kernelAddress, long kernelBytes,
                        long initrdAddress, long initrdBytes, long bootParamsAddress, long cmdlineAddress,
                        String cmdline, List<E820Entry> e820) {
    public LinuxBoot {
        e820 = List.copyOf(e820);
    }

    /** One line for logs: protocol, addresses and sizes. */
    public String summary() {
        return String.format("linux: boot protocol %s, kernel %d KiB at 0x%x (init_size %d KiB), entry 0x%x, "
                        + "initramfs %s, boot_params 0x%x, cmdline \"%s\"",
                header.versionString(), kernelBytes >> 10, kernelAddress, header.initSize() >> 10, cpu.rip(),
                initrdBytes == 0 ? "none" : String.format("%d KiB at 0x%x", initrdBytes >> 10, initrdAddress),
                bootParamsAddress, cmdline);
    }
}
