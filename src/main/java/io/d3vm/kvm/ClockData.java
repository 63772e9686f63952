package io.d3vm.kvm;

/** {@code struct kvm_clock_data}: the kvmclock value (ns) and, per flags, realtime and host TSC. */
public record ClockData(long clock, int flags, long realtime, long hostTsc) {
    public static final int TSC_STABLE = 2;
    public static final int REALTIME = 1 << 2;
    public static final int HOST_TSC = 1 << 3;
}
