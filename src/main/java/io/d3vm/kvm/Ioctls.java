package io.d3vm.kvm;

/**
 * KVM ioctl request numbers, computed the way {@code <asm-generic/ioctl.h>} does
 * ({@code _IO/_IOR/_IOW/_IOWR}) from the type {@code KVMIO = 0xAE}, the command number and the
 * size of the argument struct, so every number can be checked against {@code linux/kvm.h}.
 */
public final class Ioctls {
    private Ioctls() {}

    static final int DIR_NONE = 0;
    static final int DIR_WRITE = 1;
    static final int DIR_READ = 2;
    private static final int NR_SHIFT = 0;
    private static final int TYPE_SHIFT = 8;
    private static final int SIZE_SHIFT = 16;
    private static final int DIR_SHIFT = 30;
    private static final long SIZE_MAX = (1 << 14) - 1;

    public static final int KVMIO = 0xAE;

    /** {@code _IOC(dir, type, nr, size)}. */
    public static long ioc(int dir, int type, int nr, long size) {
        if (size < 0 || size > SIZE_MAX) {
            throw new IllegalArgumentException("ioctl argument size " + size + " does not fit 14 bits");
        }
        return ((long) dir << DIR_SHIFT) | ((long) type << TYPE_SHIFT) | ((long) nr << NR_SHIFT) | (size << SIZE_SHIFT);
    }

    public static long io(int type, int nr) {
        return ioc(DIR_NONE, type, nr, 0);
    }

    public static long ior(int type, int nr, long size) {
        return ioc(DIR_READ, type, nr, size);
    }

    public static long iow(int type, int nr, long size) {
        return ioc(DIR_WRITE, type, nr, size);
    }

    public static long iowr(int type, int nr, long size) {
        return ioc(DIR_READ | DIR_WRITE, type, nr, size);
    }

    // System ioctls (on /dev/kvm).
    public static final long KVM_GET_API_VERSION = io(KVMIO, 0x00);
    public static final long KVM_CREATE_VM = io(KVMIO, 0x01);
    public static final long KVM_GET_MSR_INDEX_LIST = iowr(KVMIO, 0x02, Structs.MSR_LIST_HEADER);
    public static final long KVM_CHECK_EXTENSION = io(KVMIO, 0x03);
    public static final long KVM_GET_VCPU_MMAP_SIZE = io(KVMIO, 0x04);
    public static final long KVM_GET_SUPPORTED_CPUID = iowr(KVMIO, 0x05, Structs.CPUID2_HEADER);

    // VM ioctls.
    public static final long KVM_CREATE_VCPU = io(KVMIO, 0x41);
    public static final long KVM_GET_DIRTY_LOG = iow(KVMIO, 0x42, Structs.DIRTY_LOG_SIZE);
    public static final long KVM_SET_USER_MEMORY_REGION = iow(KVMIO, 0x46, Structs.USER_MEMORY_REGION_SIZE);
    public static final long KVM_SET_TSS_ADDR = io(KVMIO, 0x47);
    public static final long KVM_SET_IDENTITY_MAP_ADDR = iow(KVMIO, 0x48, 8);
    public static final long KVM_CREATE_IRQCHIP = io(KVMIO, 0x60);
    public static final long KVM_IRQ_LINE = iow(KVMIO, 0x61, Structs.IRQ_LEVEL_SIZE);
    public static final long KVM_GET_IRQCHIP = iowr(KVMIO, 0x62, Structs.IRQCHIP_SIZE);
    public static final long KVM_SET_IRQCHIP = ior(KVMIO, 0x63, Structs.IRQCHIP_SIZE);
    public static final long KVM_CREATE_PIT2 = iow(KVMIO, 0x77, Structs.PIT_CONFIG_SIZE);
    public static final long KVM_SET_CLOCK = iow(KVMIO, 0x7b, Structs.CLOCK_DATA_SIZE);
    public static final long KVM_GET_CLOCK = ior(KVMIO, 0x7c, Structs.CLOCK_DATA_SIZE);
    public static final long KVM_GET_PIT2 = ior(KVMIO, 0x9f, Structs.PIT_STATE2_SIZE);
    public static final long KVM_SET_PIT2 = iow(KVMIO, 0xa0, Structs.PIT_STATE2_SIZE);

    // vCPU ioctls.
    public static final long KVM_RUN = io(KVMIO, 0x80);
    public static final long KVM_GET_REGS = ior(KVMIO, 0x81, Structs.REGS_SIZE);
    public static final long KVM_SET_REGS = iow(KVMIO, 0x82, Structs.REGS_SIZE);
    public static final long KVM_GET_SREGS = ior(KVMIO, 0x83, Structs.SREGS_SIZE);
    public static final long KVM_SET_SREGS = iow(KVMIO, 0x84, Structs.SREGS_SIZE);
    public static final long KVM_GET_MSRS = iowr(KVMIO, 0x88, Structs.MSRS_HEADER);
    public static final long KVM_SET_MSRS = iow(KVMIO, 0x89, Structs.MSRS_HEADER);
    public static final long KVM_GET_FPU = ior(KVMIO, 0x8c, Structs.FPU_SIZE);
    public static final long KVM_SET_FPU = iow(KVMIO, 0x8d, Structs.FPU_SIZE);
    public static final long KVM_GET_LAPIC = ior(KVMIO, 0x8e, Structs.LAPIC_SIZE);
    public static final long KVM_SET_LAPIC = iow(KVMIO, 0x8f, Structs.LAPIC_SIZE);
    public static final long KVM_SET_CPUID2 = iow(KVMIO, 0x90, Structs.CPUID2_HEADER);
    public static final long KVM_GET_CPUID2 = iowr(KVMIO, 0x91, Structs.CPUID2_HEADER);
    public static final long KVM_GET_MP_STATE = ior(KVMIO, 0x98, 4);
    public static final long KVM_SET_MP_STATE = iow(KVMIO, 0x99, 4);
    public static final long KVM_GET_VCPU_EVENTS = ior(KVMIO, 0x9f, Structs.VCPU_EVENTS_SIZE);
    public static final long KVM_SET_VCPU_EVENTS = iow(KVMIO, 0xa0, Structs.VCPU_EVENTS_SIZE);
    public static final long KVM_GET_DEBUGREGS = ior(KVMIO, 0xa1, Structs.DEBUGREGS_SIZE);
    public static final long KVM_SET_DEBUGREGS = iow(KVMIO, 0xa2, Structs.DEBUGREGS_SIZE);
    public static final long KVM_SET_TSC_KHZ = io(KVMIO, 0xa2);
    public static final long KVM_GET_TSC_KHZ = io(KVMIO, 0xa3);
    public static final long KVM_GET_XSAVE = ior(KVMIO, 0xa4, Structs.XSAVE_SIZE);
    public static final long KVM_SET_XSAVE = iow(KVMIO, 0xa5, Structs.XSAVE_SIZE);
    public static final long KVM_GET_XCRS = ior(KVMIO, 0xa6, Structs.XCRS_SIZE);
    public static final long KVM_SET_XCRS = iow(KVMIO, 0xa7, Structs.XCRS_SIZE);
    public static final long KVM_GET_XSAVE2 = ior(KVMIO, 0xcf, Structs.XSAVE_SIZE);
}
