package io.d3vm.migration.send;

import io.d3vm.migration.detect.Detectors;

/**
 * How a migration is sent, validated once when built (the CLI's {@code migrate} options and the
 * VMM's control API both build one).
 *
 * @param detector          {@code none}, {@code full} or {@code d3}
 * @param samples           words {@code d3} samples per page
 * @param maxBandwidth      bytes per second, 0 = unlimited ({@link Bandwidth})
 * @param downtimeLimitMillis tolerated pause; pre-copy iterates until the rest fits in it
 * @param maxRounds         live rounds at most (the stop-and-copy round comes after them)
 * @param ackTimeoutMillis  how long to wait for the destination's verdicts (setup and completion,
 *                          which includes the destination's digest)
 * @param stallTimeoutMillis a destination that accepts no bytes for this long is given up
 * @param verify            how the destination's memory is proven equal to the source's ({@link Verify})
 * @param autoConverge      throttle the guest while pre-copy does not converge ({@code --auto-converge}, {@link ConvergencePolicy})
 * @param allowLongDowntime when pre-copy cannot converge, pause anyway for whatever is left, however long
 *                          ({@code --allow-long-downtime}); without it such a migration fails and the guest runs on
 * @param postcopyAfterRounds {@link #NO_POSTCOPY}; {@link #POSTCOPY_WHEN_STUCK} ({@code --postcopy}): when pre-copy cannot
 *                          converge, switch to post-copy instead of failing; N &gt;= 1 ({@code --postcopy-after N}): also
 *                          switch after N live rounds at the latest
 * @param maxPostcopyBandwidth bytes per second for post-copy's stream after GO, 0 = unlimited ({@code --max-postcopy-bandwidth})
 * @param savings           compression and duplicate references ({@code --compress}, {@code --duplicates}; {@link ByteSavings})
 */
public record SendOptions(String detector, int samples, long maxBandwidth, long downtimeLimitMillis, int maxRounds,
                          long ackTimeoutMillis, long stallTimeoutMillis, Verify verify, boolean autoConverge,
                          boolean allowLongDowntime, int postcopyAfterRounds, long maxPostcopyBandwidth,
                          ByteSavings savings) {
    public static final int NO_POSTCOPY = -1;
    public static final int POSTCOPY_WHEN_STUCK = 0;

    public static final long DEFAULT_DOWNTIME_LIMIT_MILLIS = 300;
    public static final int DEFAULT_MAX_ROUNDS = 30;
    /** How long connecting to the destination may take (migrate --connect-timeout, the API's connect-timeout). */
    public static final int DEFAULT_CONNECT_TIMEOUT_MILLIS = 5000;
    public static final long DEFAULT_ACK_TIMEOUT_MILLIS = 120_000;
    public static final long DEFAULT_STALL_TIMEOUT_MILLIS = 30_000;

    public SendOptions {
        if (!Detectors.NAMES.contains(detector)) {
            throw new IllegalArgumentException("unknown detector '" + detector + "': use one of " + String.join(", ", Detectors.NAMES));
        }
        if (samples < 0 || samples > 64) {
            throw new IllegalArgumentException("samples " + samples + " must be 0..64");
        }
        if (maxBandwidth < 0) {
            throw new IllegalArgumentException("max bandwidth must not be negative");
        }
        if (downtimeLimitMillis < 1) {
            throw new IllegalArgumentException("downtime limit must be at least 1 ms");
        }
        if (maxRounds < 1 || maxRounds > 10_000) {
            throw new IllegalArgumentException("max rounds " + maxRounds + " must be 1..10000");
        }
        if (ackTimeoutMillis < 1 || stallTimeoutMillis < 1) {
            throw new IllegalArgumentException("timeouts must be positive");
        }
        if (verify == null) {
            throw new IllegalArgumentException("verify mode missing");
        }
        if (postcopyAfterRounds < NO_POSTCOPY || postcopyAfterRounds > maxRounds) {
            throw new IllegalArgumentException("--postcopy-after must be 1.." + maxRounds + " (at most --max-rounds)");
        }
        if (savings == null) {
            throw new IllegalArgumentException("byte savings missing");
        }
        if (maxPostcopyBandwidth < 0) {
            throw new IllegalArgumentException("max post-copy bandwidth must not be negative");
        }
        if (postcopyAfterRounds != NO_POSTCOPY && verify == Verify.STRICT) {
            throw new IllegalArgumentException("post-copy cannot be combined with --verify strict: the destination runs the guest before"
                    + " its memory is complete, so nobody can hash the whole memory inside the pause. Use --verify incremental: every"
                    + " page's digest is still compared when post-copy ends, and the source audits its whole memory after");
        }
    }

    public static SendOptions defaults() {
        return new SendOptions(Detectors.DEFAULT_DETECTOR, Detectors.DEFAULT_SAMPLES, 0, DEFAULT_DOWNTIME_LIMIT_MILLIS, DEFAULT_MAX_ROUNDS,
                DEFAULT_ACK_TIMEOUT_MILLIS, DEFAULT_STALL_TIMEOUT_MILLIS, Verify.INCREMENTAL, false, false, NO_POSTCOPY, 0, ByteSavings.defaults());
    }

    public SendOptions withDetector(String d) {
        return new SendOptions(d, samples, maxBandwidth, downtimeLimitMillis, maxRounds, ackTimeoutMillis, stallTimeoutMillis, verify, autoConverge, allowLongDowntime, postcopyAfterRounds, maxPostcopyBandwidth, savings);
    }

    public SendOptions withMaxBandwidth(long b) {
        return new SendOptions(detector, samples, b, downtimeLimitMillis, maxRounds, ackTimeoutMillis, stallTimeoutMillis, verify, autoConverge, allowLongDowntime, postcopyAfterRounds, maxPostcopyBandwidth, savings);
    }

    public SendOptions withTimeouts(long ackMillis, long stallMillis) {
        return new SendOptions(detector, samples, maxBandwidth, downtimeLimitMillis, maxRounds, ackMillis, stallMillis, verify, autoConverge, allowLongDowntime, postcopyAfterRounds, maxPostcopyBandwidth, savings);
    }

    public SendOptions withVerify(Verify v) {
        return new SendOptions(detector, samples, maxBandwidth, downtimeLimitMillis, maxRounds, ackTimeoutMillis, stallTimeoutMillis, v, autoConverge, allowLongDowntime, postcopyAfterRounds, maxPostcopyBandwidth, savings);
    }

    /** With {@code --auto-converge} and {@code --allow-long-downtime} as given. */
    public SendOptions withConvergence(boolean auto, boolean allowLong) {
        return new SendOptions(detector, samples, maxBandwidth, downtimeLimitMillis, maxRounds, ackTimeoutMillis, stallTimeoutMillis, verify,
                auto, allowLong, postcopyAfterRounds, maxPostcopyBandwidth, savings);
    }

    /** With post-copy: {@link #NO_POSTCOPY}, {@link #POSTCOPY_WHEN_STUCK}, or after that many live rounds at the latest. */
    public SendOptions withPostcopy(int afterRounds) {
        return new SendOptions(detector, samples, maxBandwidth, downtimeLimitMillis, maxRounds, ackTimeoutMillis, stallTimeoutMillis, verify,
                autoConverge, allowLongDowntime, afterRounds, maxPostcopyBandwidth, savings);
    }

    /** With post-copy's own bandwidth cap (bytes/s, 0 = unlimited). */
    public SendOptions withMaxPostcopyBandwidth(long b) {
        return new SendOptions(detector, samples, maxBandwidth, downtimeLimitMillis, maxRounds, ackTimeoutMillis, stallTimeoutMillis, verify,
                autoConverge, allowLongDowntime, postcopyAfterRounds, b, savings);
    }

    /** With {@code --compress} and {@code --duplicates} as given. */
    public SendOptions withSavings(ByteSavings s) {
        return new SendOptions(detector, samples, maxBandwidth, downtimeLimitMillis, maxRounds, ackTimeoutMillis, stallTimeoutMillis, verify,
                autoConverge, allowLongDowntime, postcopyAfterRounds, maxPostcopyBandwidth, s);
    }

    /** The migration may end with post-copy. */
    public boolean postcopy() {
        return postcopyAfterRounds != NO_POSTCOPY;
    }
}
