package io.d3vm.memory;

import java.util.Locale;

/**
 * Byte sizes as people type them: {@code 4096}, {@code 64K}, {@code 512M}, {@code 4G}, {@code 1T}
 * (binary multiples: K = 1024; an optional trailing {@code B} or {@code iB} is allowed, so
 * {@code 4GiB} and {@code 4GB} are both 4 × 2^30), and back to short text for messages.
 */
public final class Sizes {
    private Sizes() {}

    /** The one wording of a size that does not parse, wherever a size is typed. */
    static final String EXAMPLES = "examples: 4096, 64K, 512M, 4G";

    /**
     * A size in bytes; a bare number is bytes.
     *
     * @throws IllegalArgumentException with the reason, for anything else or a value over 2^63 - 1
     */
    public static long parseBytes(String text) {
        return parse(text, 0);
    }

    /**
     * A size in bytes where a bare number counts units of {@code 2^bareShift} bytes (the test guest's
     * {@code mem=256} is MiB, as QEMU's {@code -m}). The only size parser: every size option and
     * guest key goes through it and fails with the same words.
     */
    public static long parse(String text, int bareShift) {
        String s = text == null ? "" : text.trim().toUpperCase(Locale.ROOT);
        if (s.endsWith("IB")) {
            s = s.substring(0, s.length() - 2);
        } else if (s.endsWith("B")) {
            s = s.substring(0, s.length() - 1);
        }
        int shift = bareShift;
        if (!s.isEmpty()) {
            int suffix = switch (s.charAt(s.length() - 1)) {
                case 'K' -> 10;
                case 'M' -> 20;
                case 'G' -> 30;
                case 'T' -> 40;
                default -> -1;
            };
            if (suffix >= 0) {
                s = s.substring(0, s.length() - 1);
                shift = suffix;
            } else if (text.trim().toUpperCase(Locale.ROOT).endsWith("B")) {
                shift = 0;                                  // "4096B": bytes, whatever a bare number means
            }
        }
        if (s.isEmpty() || !s.chars().allMatch(Character::isDigit) || s.length() > 19) {
            throw new IllegalArgumentException("'" + text + "' is not a size (" + EXAMPLES + ")");
        }
        long v = Long.parseLong(s);
        if (v > (Long.MAX_VALUE >> shift)) {
            throw new IllegalArgumentException("'" + text + "' is too large (at most 8 EiB)");
        }
        return v << shift;
    }

    /** The shortest exact form that {@link #parseBytes} reads back: "4G", "256M", "12K", "4097". */
    public static String compact(long bytes) {
        if (bytes > 0 && bytes % (1L << 30) == 0) {
            return (bytes >> 30) + "G";
        }
        if (bytes > 0 && bytes % (1L << 20) == 0) {
            return (bytes >> 20) + "M";
        }
        if (bytes > 0 && bytes % (1L << 10) == 0) {
            return (bytes >> 10) + "K";
        }
        return bytes + "B";
    }

    /** "4 GiB", "512 MiB", "12.5 KiB", "100 B". */
    public static String format(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = 0;
        while (Math.abs(v) >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        if (u == 0) {
            return bytes + " B";
        }
        return (v == Math.rint(v) ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.1f", v)) + " " + units[u];
    }
}
