package io.d3vm.migration.wire;

/** What an ACK answers (its {@code stage} field on the wire, {@link Wire}'s ACK diagram). */
public enum AckStage {
    /** After LAYOUT: the destination built a guest of that description and layout (or refused). */
    SETUP(1),
    /** After COMPLETE: the gate check passed and the state restored; the guest waits for GO. */
    COMPLETION(2),
    /** After SYNC: everything sent before it is rebuilt (the digest field holds the rounds rebuilt). */
    SYNC(3),
    /**
     * After POSTCOPY and STATE: the destination discarded the pages it may not trust, will fetch
     * them on fault, and restored the state; the guest waits for GO.
     */
    POSTCOPY(4);

    private final int code;

    AckStage(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    /** The stage of wire code {@code code}, or null for a code no stage has. */
    public static AckStage fromCode(int code) {
        for (AckStage s : values()) {
            if (s.code == code) {
                return s;
            }
        }
        return null;
    }
}
