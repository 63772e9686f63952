package io.d3vm.kvm;

/** {@code struct kvm_pit_channel_state}: one 8254 counter. */
public record PitChannel(int count, int latchedCount, int countLatched, int statusLatched, int status,
                         int readState, int writeState, int writeLatch, int rwMode, int mode, int bcd, int gate,
                         long countLoadTime) {
}
