package io.d3vm.kvm;

import java.util.List;

/** {@code struct kvm_pit_state2}: the in-kernel 8254's three channels and flags. */
public record PitState2(List<PitChannel> channels, int flags) {
    public PitState2 {
        channels = List.copyOf(channels);
        if (channels.size() != 3) {
            throw new IllegalArgumentException("the PIT has 3 channels, got " + channels.size());
        }
    }
}
