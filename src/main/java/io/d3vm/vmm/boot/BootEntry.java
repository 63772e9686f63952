package io.d3vm.vmm.boot;

/**
 * How a loader wants the boot vCPU started; the {@code vmm} package turns it into registers.
 */
public sealed interface BootEntry {
    /**
     * 64-bit long mode on page tables and a GDT already in memory ({@link LongMode#setUp}): the
     * test guest's fast entry and Linux's 64-bit boot protocol.
     *
     * @param rax the extra boot argument (the Multiboot magic for the test guest, 0 for Linux)
     */
    record LongMode64(BootCpuState cpu, long rax) implements BootEntry {}

    /**
     * 32-bit protected mode as the Multiboot specification (0.6.96, §3.2) leaves a machine: flat
     * 4 GiB code (selector {@link #CODE_SELECTOR}) and data ({@link #DATA_SELECTOR}) segments of
     * the GDT at {@code gdtBase}, paging off, interrupts off, A20 on, EAX and EBX as given.
     */
    record Protected32(long eip, long eax, long ebx, long gdtBase, int gdtLimit) implements BootEntry {
        public static final int CODE_SELECTOR = 0x10;
        public static final int DATA_SELECTOR = 0x18;
        public static final int TSS_SELECTOR = 0x20;

        public Protected32 {
            if (eip < 0 || eip > 0xffffffffL || eax < 0 || eax > 0xffffffffL || ebx < 0 || ebx > 0xffffffffL) {
                throw new IllegalArgumentException("a 32-bit entry takes 32-bit registers");
            }
        }
    }
}
