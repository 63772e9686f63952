package io.d3vm.memory;

import java.util.Locale;

/**
 * Byte sizes as people type them: {@code 4096}, {@code 64K}, {@code 512M}, {@code 4G}, {@code 1T}
 * (binary multiples: K = 1024; an optional trailing {@code B} or {@code iB} is allowed, so
 * {@code 4GiB} and {@code 4GB} are both 4 × 2^30), and back to short text for messages.
 */
public final class Sizes {
    private Sizes() {}

    /** @throws IllegalArgumentException with the reason, for anything else or a value over 2^63 - 1 */
    public static long parseBytes(String text) {
        String s = text.trim().toUpperCase(Locale.ROOT);
        if (s.endsWith("IB")) {
            s = s.substring(0, s.length() - 2);
        } else if (s.endsWith("B")) {
            s = s.substring(0, s.length() - 1);
        }
        int shift = 0;
        if (!s.isEmpty()) {
            switch (s.charAt(s.length() - 1)) {
                case 'K' -> shift = 10;
                case 'M' -> shift = 20;
                case 'G' -> shift = 30;
                case 'T' -> shift = 40;
                default -> shift = -1;
            }
            if (shift >= 0) {
                s = s.substring(0, s.length() - 1);
            } else {
                shift = 0;
            }
        }
        if (s.isEmpty() || !s.chars().allMatch(Character::isDigit) || s.length() > 19) {
            throw new IllegalArgumentException("'" + text + "' is not a size (examples: 4096, 64K, 512M, 4G)");
        }
        long v = Long.parseLong(s);
        if (v > (Long.MAX_VALUE >> shift)) {
            throw new IllegalArgumentException("'" + text + "' is too large");
        }
        return v << shift;
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
