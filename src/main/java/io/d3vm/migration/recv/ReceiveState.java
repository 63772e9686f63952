package io.d3vm.migration.recv;

import io.d3vm.migration.wire.FrameType;
import io.d3vm.migration.wire.ProtocolException;

/**
 * Where a destination is in a migration, as a sealed state machine (after Cloud Hypervisor's
 * {@code ReceiveMigrationState}): {@link #on} returns the state a frame of the given type leads to,
 * or throws {@link ProtocolException} when that frame may not come now. The receiver asks before it
 * reads a frame's body, so an out-of-order frame never touches guest memory.
 *
 * <pre>
 * AwaitHandshake -HANDSHAKE-> AwaitLayout -LAYOUT-> BetweenRounds(0)
 * BetweenRounds(r) -PAGES-> InRound(r+1) -PAGES-> InRound(r+1) -END_OF_ROUND-> BetweenRounds(r+1)
 * BetweenRounds(r) -END_OF_ROUND-> BetweenRounds(r+1)            (an empty round)
 * BetweenRounds(r >= 1) -SYNC-> BetweenRounds(r)                 (answered with ACK(sync, r))
 * BetweenRounds(r >= 1) -STATE-> AwaitComplete(r) -COMPLETE-> Completed(r)
 * Completed(r) -(receiver sent the positive completion ACK: acknowledged())-> AwaitGo(r) -GO-> HandedOver(r)
 * any state but Completed/HandedOver/Aborted -ABORT-> Aborted
 *
 * Post-copy (the source paused and sends the rest after the guest runs here):
 * BetweenRounds(r >= 1) -POSTCOPY-> PostcopyNamed(r) -STATE-> PostcopyReady(r)
 * PostcopyNamed(r) -SYNC-> PostcopyNamed(r), -POSTCOPY-> PostcopyNamed(r)   (live, then in the pause: a superset)
 * PostcopyReady(r) -(receiver sent the positive ACK(postcopy): acknowledged())-> AwaitPostcopyGo(r) -GO-> Postcopy(r)
 * Postcopy(r) -PAGES-> Postcopy(r) -END_OF_ROUND-> PostcopyEnded(r+1) -COMPLETE-> Completed(r+1)
 * </pre>
 *
 * <p>{@code Completed} takes no frame: the receiver is verifying and has not acknowledged yet, so a
 * GO there is out of order. {@code AwaitGo} is the hand-over's last step: the verified guest stays
 * paused until GO; an ABORT there means the source never saw the ACK and resumed its own copy.
 */
public sealed interface ReceiveState {

    /** The state after a frame of type {@code t}; throws when {@code t} is not allowed here. */
    ReceiveState on(FrameType t) throws ProtocolException;

    /** Short name for messages. */
    default String describe() {
        return getClass().getSimpleName();
    }

    static ReceiveState start() {
        return new AwaitHandshake();
    }

    private static ProtocolException unexpected(ReceiveState s, FrameType t) {
        return new ProtocolException("unexpected " + t + " frame while " + s.describe());
    }

    record AwaitHandshake() implements ReceiveState {
        @Override
        public ReceiveState on(FrameType t) throws ProtocolException {
            return switch (t) {
                case HANDSHAKE -> new AwaitLayout();
                case ABORT -> new Aborted();
                default -> throw unexpected(this, t);
            };
        }

        @Override
        public String describe() {
            return "waiting for HANDSHAKE";
        }
    }

    record AwaitLayout() implements ReceiveState {
        @Override
        public ReceiveState on(FrameType t) throws ProtocolException {
            return switch (t) {
                case LAYOUT -> new BetweenRounds(0);
                case ABORT -> new Aborted();
                default -> throw unexpected(this, t);
            };
        }

        @Override
        public String describe() {
            return "waiting for LAYOUT";
        }
    }

    /** Pages of round {@code round} are arriving. */
    record InRound(int round) implements ReceiveState {
        @Override
        public ReceiveState on(FrameType t) throws ProtocolException {
            return switch (t) {
                case PAGES -> this;
                case END_OF_ROUND -> new BetweenRounds(round);
                case ABORT -> new Aborted();
                default -> throw unexpected(this, t);
            };
        }

        @Override
        public String describe() {
            return "in round " + round;
        }
    }

    /** Round {@code completed} has ended (0: none yet). */
    record BetweenRounds(int completed) implements ReceiveState {
        @Override
        public ReceiveState on(FrameType t) throws ProtocolException {
            return switch (t) {
                case PAGES -> new InRound(completed + 1);
                case END_OF_ROUND -> new BetweenRounds(completed + 1);
                case SYNC -> {
                    if (completed == 0) {
                        throw new ProtocolException("SYNC frame before any round of pages ended");
                    }
                    yield this;
                }
                case STATE -> {
                    if (completed == 0) {
                        throw new ProtocolException("STATE frame before any round of pages ended");
                    }
                    yield new AwaitComplete(completed);
                }
                case POSTCOPY -> {
                    if (completed == 0) {
                        throw new ProtocolException("POSTCOPY frame before any round of pages ended");
                    }
                    yield new PostcopyNamed(completed);
                }
                case ABORT -> new Aborted();
                default -> throw unexpected(this, t);
            };
        }

        @Override
        public String describe() {
            return "after round " + completed;
        }
    }

    record AwaitComplete(int rounds) implements ReceiveState {
        @Override
        public ReceiveState on(FrameType t) throws ProtocolException {
            return switch (t) {
                case COMPLETE -> new Completed(rounds);
                case ABORT -> new Aborted();
                default -> throw unexpected(this, t);
            };
        }

        @Override
        public String describe() {
            return "waiting for COMPLETE";
        }
    }

    /**
     * POSTCOPY named the pages still to come: sent while the source still runs (the pages dirtied in
     * the last round, discarded here outside the pause), SYNC, then again in the pause (the final
     * set, a superset); then the guest's state.
     */
    record PostcopyNamed(int rounds) implements ReceiveState {
        @Override
        public ReceiveState on(FrameType t) throws ProtocolException {
            return switch (t) {
                case SYNC, POSTCOPY -> this;
                case STATE -> new PostcopyReady(rounds);
                case ABORT -> new Aborted();
                default -> throw unexpected(this, t);
            };
        }

        @Override
        public String describe() {
            return "post-copy pages named, before STATE";
        }
    }

    /** The receiver restores the state and acknowledges post-copy. No frame may come now. */
    record PostcopyReady(int rounds) implements ReceiveState {
        @Override
        public ReceiveState on(FrameType t) throws ProtocolException {
            if (t == FrameType.GO) {
                throw new ProtocolException("GO frame before the post-copy ACK was sent");
            }
            throw unexpected(this, t);
        }

        /** The positive ACK(postcopy) was sent: wait for GO. */
        public AwaitPostcopyGo acknowledged() {
            return new AwaitPostcopyGo(rounds);
        }

        @Override
        public String describe() {
            return "preparing post-copy";
        }
    }

    /** ACK(postcopy) was sent; the guest stays paused until GO. */
    record AwaitPostcopyGo(int rounds) implements ReceiveState {
        @Override
        public ReceiveState on(FrameType t) throws ProtocolException {
            return switch (t) {
                case GO -> new Postcopy(rounds);
                case ABORT -> new Aborted();
                default -> throw unexpected(this, t);
            };
        }

        @Override
        public String describe() {
            return "waiting for GO before post-copy";
        }
    }

    /** The guest runs here; the pages POSTCOPY named arrive as round {@code rounds + 1}. */
    record Postcopy(int rounds) implements ReceiveState {
        @Override
        public ReceiveState on(FrameType t) throws ProtocolException {
            return switch (t) {
                case PAGES -> this;
                case END_OF_ROUND -> new PostcopyEnded(rounds + 1);
                case ABORT -> new Aborted();
                default -> throw unexpected(this, t);
            };
        }

        @Override
        public String describe() {
            return "in post-copy";
        }
    }

    /** Every page POSTCOPY named was sent; COMPLETE is next. */
    record PostcopyEnded(int rounds) implements ReceiveState {
        @Override
        public ReceiveState on(FrameType t) throws ProtocolException {
            return switch (t) {
                case COMPLETE -> new Completed(rounds);
                case ABORT -> new Aborted();
                default -> throw unexpected(this, t);
            };
        }

        @Override
        public String describe() {
            return "waiting for COMPLETE after post-copy";
        }
    }

    /** Everything arrived; the receiver verifies and acknowledges. No frame may come now. */
    record Completed(int rounds) implements ReceiveState {
        @Override
        public ReceiveState on(FrameType t) throws ProtocolException {
            if (t == FrameType.GO) {
                throw new ProtocolException("GO frame before the completion ACK was sent");
            }
            throw unexpected(this, t);
        }

        /** The positive completion ACK was sent: wait for the source's GO. */
        public AwaitGo acknowledged() {
            return new AwaitGo(rounds);
        }

        @Override
        public String describe() {
            return "everything received, not yet acknowledged";
        }
    }

    /** The positive completion ACK was sent; the verified guest stays paused until GO. */
    record AwaitGo(int rounds) implements ReceiveState {
        @Override
        public ReceiveState on(FrameType t) throws ProtocolException {
            return switch (t) {
                case GO -> new HandedOver(rounds);
                case ABORT -> new Aborted();
                default -> throw unexpected(this, t);
            };
        }

        @Override
        public String describe() {
            return "waiting for GO after the completion ACK";
        }
    }

    /** Terminal: the source committed and said GO; the guest runs here. */
    record HandedOver(int rounds) implements ReceiveState {
        @Override
        public ReceiveState on(FrameType t) throws ProtocolException {
            throw unexpected(this, t);
        }

        @Override
        public String describe() {
            return "handed over";
        }
    }

    /** Terminal: the source gave up. */
    record Aborted() implements ReceiveState {
        @Override
        public ReceiveState on(FrameType t) throws ProtocolException {
            throw unexpected(this, t);
        }

        @Override
        public String describe() {
            return "aborted";
        }
    }
}
