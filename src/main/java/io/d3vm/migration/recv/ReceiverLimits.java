package io.d3vm.migration.recv;

import io.d3vm.migration.wire.Wire;

/**
 * What a destination accepts, validated once when built: the largest guest memory it will allocate,
 * the largest frame body it will read, and how long it waits for a silent peer. Each refusal is a
 * clear error naming the limit and its option.
 *
 * @param maxGuestMemory  bytes; a LAYOUT above this is refused before any memory is allocated
 * @param maxFrameLength  bytes of one frame body; at least {@link Wire#MIN_MAX_FRAME}
 * @param readTimeoutMillis a peer that sends nothing for this long is dropped
 * @param allowUnverified accept a source that sends no memory digest ({@code migrate --verify off}; {@code receive --allow-unverified})
 */
public record ReceiverLimits(long maxGuestMemory, long maxFrameLength, long readTimeoutMillis, boolean allowUnverified) {
    public static final long DEFAULT_MAX_GUEST_MEMORY = 64L << 30;
    public static final long DEFAULT_READ_TIMEOUT_MILLIS = 30_000;

    public ReceiverLimits {
        if (maxGuestMemory < 4096) {
            throw new IllegalArgumentException("max guest memory " + maxGuestMemory + " is below one page");
        }
        if (maxFrameLength < Wire.MIN_MAX_FRAME || maxFrameLength > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException("max frame length " + maxFrameLength + " must be between " + Wire.MIN_MAX_FRAME
                    + " (one full page batch) and 4294967295");
        }
        if (readTimeoutMillis < 1) {
            throw new IllegalArgumentException("read timeout must be positive, was " + readTimeoutMillis + " ms");
        }
    }

    public static ReceiverLimits defaults() {
        return new ReceiverLimits(DEFAULT_MAX_GUEST_MEMORY, Wire.DEFAULT_MAX_FRAME, DEFAULT_READ_TIMEOUT_MILLIS, false);
    }

    public ReceiverLimits withMaxGuestMemory(long bytes) {
        return new ReceiverLimits(bytes, maxFrameLength, readTimeoutMillis, allowUnverified);
    }

    public ReceiverLimits withReadTimeoutMillis(long millis) {
        return new ReceiverLimits(maxGuestMemory, maxFrameLength, millis, allowUnverified);
    }

    public ReceiverLimits withAllowUnverified(boolean allow) {
        return new ReceiverLimits(maxGuestMemory, maxFrameLength, readTimeoutMillis, allow);
    }
}
