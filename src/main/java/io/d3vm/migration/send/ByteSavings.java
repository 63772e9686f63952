package io.d3vm.migration.send;

import io.d3vm.migration.wire.Wire;

import java.util.Locale;

/**
 * What the source spends CPU on to send fewer bytes, beyond D3's classes: duplicate pages as
 * references ({@link DuplicateIndex}) and compression of the pages still sent in full
 * ({@link PageCompressor}). {@code auto} spends it only while the link, not the CPU, is the limit
 * (measured as the migration runs: {@link LinkMeter}).
 *
 * @param compress   {@code --compress none|lz4|zstd|auto}
 * @param duplicates {@code --duplicates off|on|auto}
 */
public record ByteSavings(Compress compress, Duplicates duplicates) {
    public enum Compress { NONE, LZ4, ZSTD, AUTO }

    public enum Duplicates { OFF, ON, AUTO }

    public ByteSavings {
        if (compress == null || duplicates == null) {
            throw new IllegalArgumentException("compression and duplicate modes are required");
        }
    }

    public static ByteSavings defaults() {
        return new ByteSavings(Compress.AUTO, Duplicates.AUTO);
    }

    /** Neither: every indispensable page in full and raw, as before either existed. */
    public static ByteSavings none() {
        return new ByteSavings(Compress.NONE, Duplicates.OFF);
    }

    public static Compress compress(String s) {
        try {
            return Compress.valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown compression '" + s + "': use none, lz4, zstd or auto");
        }
    }

    public static Duplicates duplicates(String s) {
        try {
            return Duplicates.valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown duplicates mode '" + s + "': use off, on or auto");
        }
    }

    /**
     * Under {@code --duplicates on}, compiles the content hash on a background thread, once per
     * process ({@code migrate --guest}: it overlaps building the guest). Not under {@code auto}: the
     * warm-up burns ~100 ms of CPU (20,000 cold HMACs) beside the migration, and where auto makes no
     * references (uncapped on loopback) the busy image took 0.44 s against 0.30 s without savings
     * (medians of 5, docs/BENCHMARKS.md). Not in a process that serves migrations either: its
     * warm-up's self-migrations compile the hash ({@code Warmup}), and a thread hashing beside them
     * only lengthened that warm-up.
     */
    public void warmUpInBackground() {
        if (duplicates == Duplicates.ON) {
            DuplicateIndex.warmUpInBackground();
        }
    }

    /**
     * These savings on a connection to this host: {@code auto} turns into {@code none} and
     * {@code off} there. A loopback connection has no link to save bytes on, and its receiver
     * shares this host's CPU, so the writer waits on a receiver that compression and hashing would
     * only slow further — measured uncapped on loopback, auto's share-of-waiting rule compressed
     * and hashed every buffer and the idle image took 0.67-1.04 s against 0.49-0.62 without.
     * Modes given explicitly stay as given.
     */
    public ByteSavings onLoopback() {
        return new ByteSavings(compress == Compress.AUTO ? Compress.NONE : compress,
                duplicates == Duplicates.AUTO ? Duplicates.OFF : duplicates);
    }

    /** Whether either mode is {@code auto}: only then does the writer need the link's rate. */
    public boolean measuresLink() {
        return compress == Compress.AUTO || duplicates == Duplicates.AUTO;
    }

    /** The handshake feature bits these savings may use. */
    public int features() {
        int f = duplicates == Duplicates.OFF ? 0 : Wire.FEATURE_DUPLICATES;
        return f | switch (compress) {
            case NONE -> 0;
            case LZ4 -> Wire.FEATURE_LZ4;
            case ZSTD, AUTO -> Wire.FEATURE_ZSTD;
        };
    }

    /** The codec name used ({@code auto} compresses with zstd), or null. */
    public String codec() {
        return switch (compress) {
            case NONE -> null;
            case LZ4 -> "lz4";
            case ZSTD, AUTO -> "zstd";
        };
    }
}
