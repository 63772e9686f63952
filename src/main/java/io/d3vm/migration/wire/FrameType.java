package io.d3vm.migration.wire;

/**
 * The frames of the migration protocol, with their wire codes and the body lengths each may have.
 * Layouts are in {@link Wire}. Bounds are checked from the header alone, before any body byte is
 * read, so a peer cannot make the decoder buffer more than a frame type allows.
 */
public enum FrameType {
    /** Source → destination, first: magic, version, flags, guest description. */
    HANDSHAKE(1, Wire.HANDSHAKE_FIXED, Wire.HANDSHAKE_FIXED + Wire.MAX_TEXT_BYTES),
    /** Source → destination, second: the guest's memory ranges. */
    LAYOUT(2, Wire.LAYOUT_FIXED + Wire.RANGE_SIZE, Wire.LAYOUT_FIXED + (long) Wire.MAX_RANGES * Wire.RANGE_SIZE),
    /** Source → destination: a batch of contiguous pages, as metadata runs plus NORMAL page data. */
    PAGES(3, Wire.PAGES_FIXED + Wire.RUN_SIZE, Long.MAX_VALUE),
    /** Source → destination: the end of a pre-copy round, with its counters. */
    END_OF_ROUND(4, Wire.END_OF_ROUND_SIZE, Wire.END_OF_ROUND_SIZE),
    /** Source → destination: the paused guest's opaque vCPU/VM/device state. */
    STATE(5, 0, Long.MAX_VALUE),
    /** Source → destination, last: the source's memory digest. */
    COMPLETE(6, Wire.COMPLETE_SIZE, Wire.COMPLETE_SIZE),
    /** Destination → source: setup accepted/refused, rounds rebuilt (sync), or digest verified/failed. */
    ACK(7, Wire.ACK_FIXED, Wire.ACK_FIXED + Wire.MAX_TEXT_BYTES),
    /** Either direction: the sender gives up; the other side must discard or resume. */
    ABORT(8, Wire.ABORT_FIXED, Wire.ABORT_FIXED + Wire.MAX_TEXT_BYTES),
    /**
     * Source → destination, after the positive completion ACK: the source has committed (its copy
     * never runs again); the destination may now resume. Empty body.
     */
    GO(9, Wire.GO_SIZE, Wire.GO_SIZE),
    /**
     * Source → destination, between rounds, before the pause: answer ACK(sync) once everything sent
     * so far is rebuilt. Empty body.
     */
    SYNC(10, Wire.SYNC_SIZE, Wire.SYNC_SIZE),
    /**
     * Source → destination, in the pause of a post-copy migration (in place of the final round):
     * the pages the destination must not trust yet, as a bitmap; STATE follows.
     */
    POSTCOPY(11, Wire.POSTCOPY_FIXED, Long.MAX_VALUE),
    /** Destination → source, during post-copy: the guest faulted on this page; send it first. */
    REQUEST(12, Wire.REQUEST_SIZE, Wire.REQUEST_SIZE);

    private static final FrameType[] BY_CODE = new FrameType[13];

    static {
        for (FrameType t : values()) {
            BY_CODE[t.code] = t;
        }
    }

    private final int code;
    private final long minBody;
    private final long maxBody;

    FrameType(int code, long minBody, long maxBody) {
        this.code = code;
        this.minBody = minBody;
        this.maxBody = maxBody;
    }

    public int code() {
        return code;
    }

    long minBody() {
        return minBody;
    }

    long maxBody() {
        return maxBody;
    }

    /** The type with this wire code, or null. */
    static FrameType ofCode(int code) {
        return code > 0 && code < BY_CODE.length ? BY_CODE[code] : null;
    }
}
