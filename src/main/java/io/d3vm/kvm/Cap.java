package io.d3vm.kvm;

/** {@code KVM_CAP_*} numbers d3vm asks about with {@link Kvm#checkExtension}. */
public final class Cap {
    private Cap() {}

    public static final int IRQCHIP = 0x00;
    public static final int USER_MEMORY = 0x03;
    public static final int SET_TSS_ADDR = 0x04;
    public static final int EXT_CPUID = 0x07;
    public static final int NR_VCPUS = 0x09;
    public static final int NR_MEMSLOTS = 0x0a;
    public static final int MP_STATE = 0x0e;
    public static final int PIT2 = 0x21;
    public static final int SET_IDENTITY_MAP_ADDR = 0x25;
    public static final int ADJUST_CLOCK = 0x27;
    public static final int VCPU_EVENTS = 0x29;
    public static final int DEBUGREGS = 0x32;
    public static final int XSAVE = 0x37;
    public static final int XCRS = 0x38;
    public static final int TSC_CONTROL = 0x3c;
    public static final int GET_TSC_KHZ = 0x3d;
    public static final int MAX_VCPUS = 0x42;
    public static final int TSC_DEADLINE_TIMER = 0x48;
    public static final int IMMEDIATE_EXIT = 0x88;
    public static final int XSAVE2 = 0xd0;
}
