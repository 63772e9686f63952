package io.d3vm.migration.wire;

/**
 * The decoded control frames: small immutable records, allocated once per frame (never per page).
 */
public final class Messages {
    private Messages() {}

    /** HANDSHAKE: who is coming. */
    public record Handshake(int version, int features, String description) {}

    /** END_OF_ROUND: the sender's own count of what it sent in the round, checked by the receiver. */
    public record EndOfRound(int round, long pages, long normalPages) {}

    /** COMPLETE: the source's memory digest, taken while the guest was paused. */
    public record Completion(long digest, int rounds) {}

    /** ACK: the destination's verdict at {@code stage}; {@code message} says why when refused. */
    public record Ack(AckStage stage, boolean ok, long digest, String message) {}

    /** ABORT: the peer gave up, and why. */
    public record Abort(String reason) {}
}
