package io.d3vm.migration.recv;

import io.d3vm.migration.wire.FrameType;
import io.d3vm.migration.wire.ProtocolException;
import org.junit.jupiter.api.Test;

import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ReceiveStateTest {

    @Test
    void shouldAcceptExactlyTheFramesEachStateAllows() throws Exception {
        Map<ReceiveState, Set<FrameType>> allowed = Map.of(
                new ReceiveState.AwaitHandshake(), EnumSet.of(FrameType.HANDSHAKE, FrameType.ABORT),
                new ReceiveState.AwaitLayout(), EnumSet.of(FrameType.LAYOUT, FrameType.ABORT),
                new ReceiveState.BetweenRounds(0), EnumSet.of(FrameType.PAGES, FrameType.END_OF_ROUND, FrameType.ABORT),
                new ReceiveState.InRound(3), EnumSet.of(FrameType.PAGES, FrameType.END_OF_ROUND, FrameType.ABORT),
                new ReceiveState.BetweenRounds(3), EnumSet.of(FrameType.PAGES, FrameType.END_OF_ROUND, FrameType.SYNC, FrameType.STATE,
                        FrameType.ABORT),
                new ReceiveState.AwaitComplete(3), EnumSet.of(FrameType.COMPLETE, FrameType.ABORT),
                new ReceiveState.Completed(3), EnumSet.noneOf(FrameType.class),
                new ReceiveState.AwaitGo(3), EnumSet.of(FrameType.GO, FrameType.ABORT),
                new ReceiveState.HandedOver(3), EnumSet.noneOf(FrameType.class),
                new ReceiveState.Aborted(), EnumSet.noneOf(FrameType.class));
        for (var e : allowed.entrySet()) {
            for (FrameType t : FrameType.values()) {
                if (e.getValue().contains(t)) {
                    assertThat(e.getKey().on(t)).as("%s on %s", e.getKey(), t).isNotNull();
                } else {
                    assertThatThrownBy(() -> e.getKey().on(t)).as("%s on %s", e.getKey(), t)
                            .isInstanceOf(ProtocolException.class).hasMessageContaining(t.name());
                }
            }
        }
    }

    @Test
    void shouldWalkAWholeMigration() throws Exception {
        ReceiveState s = ReceiveState.start();
        for (FrameType t : List.of(FrameType.HANDSHAKE, FrameType.LAYOUT, FrameType.PAGES, FrameType.PAGES, FrameType.END_OF_ROUND,
                FrameType.END_OF_ROUND, FrameType.SYNC, FrameType.PAGES, FrameType.END_OF_ROUND, FrameType.STATE, FrameType.COMPLETE)) {
            s = s.on(t);
        }
        assertThat(s).isEqualTo(new ReceiveState.Completed(3));
        s = ((ReceiveState.Completed) s).acknowledged().on(FrameType.GO);
        assertThat(s).isEqualTo(new ReceiveState.HandedOver(3));
    }

    @Test
    void shouldRefuseGoBeforeTheCompletionAckWasSent() {
        assertThatThrownBy(() -> new ReceiveState.Completed(2).on(FrameType.GO)).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("GO frame before the completion ACK");
        assertThatThrownBy(() -> new ReceiveState.AwaitComplete(2).on(FrameType.GO)).isInstanceOf(ProtocolException.class);
        assertThatThrownBy(() -> new ReceiveState.BetweenRounds(2).on(FrameType.GO)).isInstanceOf(ProtocolException.class);
    }
}
