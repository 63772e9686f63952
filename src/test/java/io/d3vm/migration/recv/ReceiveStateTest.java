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
        Map<ReceiveState, Set<FrameType>> allowed = Map.ofEntries(
                Map.entry(new ReceiveState.AwaitHandshake(), EnumSet.of(FrameType.HANDSHAKE, FrameType.ABORT)),
                Map.entry(new ReceiveState.AwaitLayout(), EnumSet.of(FrameType.LAYOUT, FrameType.ABORT)),
                Map.entry(new ReceiveState.BetweenRounds(0), EnumSet.of(FrameType.PAGES, FrameType.END_OF_ROUND, FrameType.ABORT)),
                Map.entry(new ReceiveState.InRound(3), EnumSet.of(FrameType.PAGES, FrameType.END_OF_ROUND, FrameType.ABORT)),
                Map.entry(new ReceiveState.BetweenRounds(3), EnumSet.of(FrameType.PAGES, FrameType.END_OF_ROUND, FrameType.SYNC,
                        FrameType.STATE, FrameType.POSTCOPY, FrameType.ABORT)),
                Map.entry(new ReceiveState.AwaitComplete(3), EnumSet.of(FrameType.COMPLETE, FrameType.ABORT)),
                Map.entry(new ReceiveState.Completed(3), EnumSet.noneOf(FrameType.class)),
                Map.entry(new ReceiveState.AwaitGo(3), EnumSet.of(FrameType.GO, FrameType.ABORT)),
                Map.entry(new ReceiveState.HandedOver(3), EnumSet.noneOf(FrameType.class)),
                Map.entry(new ReceiveState.Aborted(), EnumSet.noneOf(FrameType.class)),
                Map.entry(new ReceiveState.PostcopyNamed(3), EnumSet.of(FrameType.SYNC, FrameType.POSTCOPY, FrameType.STATE, FrameType.ABORT)),
                Map.entry(new ReceiveState.PostcopyReady(3), EnumSet.noneOf(FrameType.class)),
                Map.entry(new ReceiveState.AwaitPostcopyGo(3), EnumSet.of(FrameType.GO, FrameType.ABORT)),
                Map.entry(new ReceiveState.Postcopy(3), EnumSet.of(FrameType.PAGES, FrameType.END_OF_ROUND, FrameType.ABORT)),
                Map.entry(new ReceiveState.PostcopyEnded(4), EnumSet.of(FrameType.COMPLETE, FrameType.ABORT)));
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
    void shouldWalkAPostcopyMigration() throws Exception {
        ReceiveState s = ReceiveState.start();
        for (FrameType t : List.of(FrameType.HANDSHAKE, FrameType.LAYOUT, FrameType.PAGES, FrameType.END_OF_ROUND, FrameType.POSTCOPY,
                FrameType.SYNC, FrameType.POSTCOPY, FrameType.STATE)) {
            s = s.on(t);
        }
        assertThat(s).isEqualTo(new ReceiveState.PostcopyReady(1));
        assertThatThrownBy(() -> new ReceiveState.PostcopyReady(1).on(FrameType.GO)).hasMessageContaining("before the post-copy ACK");
        s = ((ReceiveState.PostcopyReady) s).acknowledged();
        for (FrameType t : List.of(FrameType.GO, FrameType.PAGES, FrameType.PAGES, FrameType.END_OF_ROUND, FrameType.COMPLETE)) {
            s = s.on(t);
        }
        assertThat(s).isEqualTo(new ReceiveState.Completed(2));
    }

    @Test
    void shouldRefuseGoBeforeTheCompletionAckWasSent() {
        assertThatThrownBy(() -> new ReceiveState.Completed(2).on(FrameType.GO)).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("GO frame before the completion ACK");
        assertThatThrownBy(() -> new ReceiveState.AwaitComplete(2).on(FrameType.GO)).isInstanceOf(ProtocolException.class);
        assertThatThrownBy(() -> new ReceiveState.BetweenRounds(2).on(FrameType.GO)).isInstanceOf(ProtocolException.class);
    }
}
