package io.d3vm.migration.wire;

import java.io.IOException;

/**
 * The one error for every malformed migration stream: truncated, garbage, out of range, too long,
 * or in the wrong order. Thrown by {@link FrameDecoder} and by the receiver's state machine; the
 * message says what was wrong with which frame, so the operator can tell a bug from an attack.
 *
 * <p>An {@link IOException} so transport and protocol failures take the same path (abort the
 * migration, keep the source running), but a distinct type so tests and fuzzers can insist that
 * nothing else escapes the decoder.
 */
public final class ProtocolException extends IOException {
    private static final long serialVersionUID = 1L;

    public ProtocolException(String message) {
        super(message);
    }

    public ProtocolException(String message, Throwable cause) {
        super(message, cause);
    }
}
