package io.d3vm.vmm.vstate;

import io.d3vm.kvm.KvmTestSupport;
import io.d3vm.vmm.boot.testguest.TestGuestImage;
import io.d3vm.vmm.boot.testguest.TestGuestLoader;
import io.d3vm.vmm.boot.testguest.TestGuestSpec;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.io.OutputStream;

/** Boots the real test guest (classpath /guest/d3guest.elf) on KVM for tests. */
public final class TestGuestSupport {
    private TestGuestSupport() {}

    /** The built guest, or the test is skipped with the reason (KVM tests only). */
    public static TestGuestImage image() {
        try {
            return TestGuestImage.builtIn();
        } catch (IOException e) {
            Assumptions.abort("the test guest is not built: " + e.getMessage());
            throw new AssertionError(e);
        }
    }

    /**
     * The address of symbol {@code name} in the built-in guest (ELF32 symbol table; the guest is
     * identity-mapped, so it is also the guest-physical address of that variable).
     */
    public static long symbol(String name) throws IOException {
        byte[] elf;
        try (java.io.InputStream in = TestGuestSupport.class.getResourceAsStream("/guest/d3guest.elf")) {
            Assumptions.assumeTrue(in != null, "the test guest is not built");
            elf = in.readAllBytes();
        }
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(elf).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        int shoff = b.getInt(0x20);
        int shentsize = Short.toUnsignedInt(b.getShort(0x2e));
        int shnum = Short.toUnsignedInt(b.getShort(0x30));
        for (int i = 0; i < shnum; i++) {
            int sh = shoff + i * shentsize;
            if (b.getInt(sh + 4) != 2) { // SHT_SYMTAB
                continue;
            }
            int symOff = b.getInt(sh + 16);
            int symSize = b.getInt(sh + 20);
            int strSh = shoff + b.getInt(sh + 24) * shentsize; // sh_link: its string table
            int strOff = b.getInt(strSh + 16);
            for (int s = symOff; s < symOff + symSize; s += 16) {
                int nameAt = strOff + b.getInt(s);
                int end = nameAt;
                while (elf[end] != 0) {
                    end++;
                }
                if (new String(elf, nameAt, end - nameAt, java.nio.charset.StandardCharsets.US_ASCII).equals(name)) {
                    return Integer.toUnsignedLong(b.getInt(s + 4));
                }
            }
        }
        throw new AssertionError("no symbol " + name + " in the test guest");
    }

    /** A paused VM with the guest loaded for {@code spec}; the caller starts and closes it. */
    public static Vm load(String spec, OutputStream console) {
        return load(spec, console, (OutputStream) null);
    }

    /** As {@link #load(String, OutputStream)}, with an ISA debug console writing to {@code debugcon} (null: none). */
    public static Vm load(String spec, OutputStream console, OutputStream debugcon) {
        return load(spec, console, debugcon, null);
    }

    /** As {@link #load(String, OutputStream)}, for the {@code image} workload: {@code memoryImage} placed as {@code run --image} does. */
    public static Vm load(String spec, OutputStream console, io.d3vm.memory.MemoryImage memoryImage) {
        return load(spec, console, null, memoryImage);
    }

    private static Vm load(String spec, OutputStream console, OutputStream debugcon, io.d3vm.memory.MemoryImage memoryImage) {
        TestGuestImage image = image();
        TestGuestSpec ts = TestGuestSpec.parse(spec);
        Vm vm = Vm.create(KvmTestSupport.kvm(), new VmConfig(X86Layout.forMemory(ts.memBytes()), 1, console, ts.describe(), debugcon));
        try {
            TestGuestLoader.Boot boot = TestGuestLoader.load(vm.memory(), image, ts, memoryImage);
            vm.setUpBootVcpu(boot.cpu(), boot.rax());
            return vm;
        } catch (RuntimeException e) {
            vm.close();
            throw e;
        }
    }
}
