package io.d3vm.migration;

import java.util.Locale;

/**
 * Parses the durations users give migration options ({@code --downtime-limit 300ms}, the control
 * API's {@code "downtime-limit": "2s"}): one parser, so the CLI and the API accept the same text.
 */
public final class Durations {
    private Durations() {}

    /**
     * Milliseconds from {@code 300ms}, {@code 2s}, {@code 1.5s}, {@code 2m}. A bare number is refused:
     * {@code --downtime-limit 5} could mean 5 ms or 5 s, and a wrong guess costs a long pause.
     *
     * @throws IllegalArgumentException naming the text when it is not a non-negative duration with a unit
     */
    public static long parseMillis(String text) {
        String v = text.trim().toLowerCase(Locale.ROOT);
        double factor = 1;
        if (v.endsWith("ms")) {
            v = v.substring(0, v.length() - 2);
        } else if (v.endsWith("s")) {
            v = v.substring(0, v.length() - 1);
            factor = 1000;
        } else if (v.endsWith("m")) {
            v = v.substring(0, v.length() - 1);
            factor = 60_000;
        } else if (!v.isEmpty() && v.chars().allMatch(c -> Character.isDigit(c) || c == '.')) {
            throw new IllegalArgumentException("'" + text + "' has no unit: write " + v + "ms or " + v + "s");
        }
        try {
            double d = Double.parseDouble(v) * factor;
            if (Double.isNaN(d) || d < 0 || d > 1e15) {
                throw new NumberFormatException();
            }
            return Math.round(d);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text + "' is not a duration (e.g. 300ms, 2s, 1m)");
        }
    }
}
