package io.d3vm.vmm.boot.testguest;

import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryImage;
import io.d3vm.vmm.boot.BootEntry;
import io.d3vm.vmm.boot.PreparedGuest;

/** The test guest as a {@link PreparedGuest}: its binary and, for the image workload, the memory image to seed. */
public record TestGuestBoot(TestGuestSpec spec, String description, TestGuestImage binary, MemoryImage seed) implements PreparedGuest {
    /** The console line the test guest prints first. */
    public static final String BOOT_LINE = "d3guest: boot";

    public TestGuestBoot {
        if (spec.workload().equals("image") != (seed != null)) {
            throw new IllegalArgumentException(seed == null
                    ? "the image workload needs a memory image to seed (--image FILE: a raw memory image or an ELF core)"
                    : "a memory image is only for the image workload");
        }
    }

    @Override
    public long memBytes() {
        return spec.memBytes();
    }

    /** Loads the guest; the seed image is closed afterwards, loaded or not. */
    @Override
    public Loaded load(GuestMemory memory) {
        try {
            TestGuestLoader.Boot b = TestGuestLoader.load(memory, binary, spec, seed);
            return new Loaded(new BootEntry.LongMode64(b.cpu(), b.rax()), String.format("test guest, entry64 0x%x, command line \"%s\"",
                    b.cpu().rip(), b.commandLine()));
        } finally {
            if (seed != null) {
                seed.close();
            }
        }
    }

    @Override
    public String bootLine() {
        return BOOT_LINE;
    }
}
