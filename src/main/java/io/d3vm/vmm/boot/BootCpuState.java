package io.d3vm.vmm.boot;

/**
 * How the boot vCPU starts: a flat 64-bit long-mode state whose page tables and GDT a loader has
 * already written into guest memory ({@link LongMode#setUp}). The {@code vmm} package turns it into
 * {@code kvm_regs} / {@code kvm_sregs}.
 *
 * @param rip          entry point (guest-physical = virtual: identity mapped)
 * @param rsp          initial stack pointer (0 when the guest sets its own)
 * @param rsi          boot argument register for the Linux boot protocol (boot_params address)
 * @param rdi          boot argument register for the test guest (multiboot info address)
 * @param cr3          PML4 address
 * @param gdtBase      GDT address
 * @param gdtLimit     GDT limit (size - 1)
 * @param codeSelector selector of the 64-bit code segment
 * @param dataSelector selector of the flat data segment
 * @param tssSelector  selector of the TSS descriptor
 */
public record BootCpuState(long rip, long rsp, long rsi, long rdi, long cr3,
                           long gdtBase, int gdtLimit, int codeSelector, int dataSelector, int tssSelector) {

    /** CR0: protection enabled, paging, write-protect, extension type, numeric error. */
    public static final long CR0 = 0x1L | 0x10L | 0x20L | 0x10000L | 0x80000000L;
    /** CR4: PAE (required for long mode) and PGE. */
    public static final long CR4 = 0x20L | 0x80L;
    /** EFER: long mode enable + active, syscall enable. */
    public static final long EFER = 0x100L | 0x400L | 0x1L;

    public BootCpuState withEntry(long newRip, long newRsp, long newRsi, long newRdi) {
        return new BootCpuState(newRip, newRsp, newRsi, newRdi, cr3, gdtBase, gdtLimit, codeSelector, dataSelector, tssSelector);
    }
}
