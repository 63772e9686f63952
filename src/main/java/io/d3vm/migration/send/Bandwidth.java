package io.d3vm.migration.send;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parses {@code --max-bandwidth} values into bytes per second. Like QEMU's {@code max-bandwidth},
 * the unit is <b>bytes</b> per second with binary multiples unless the value says bits:
 * <ul>
 * <li>{@code 1G}, {@code 1GiB}, {@code 1GB/s}: 1 GiB/s = 1073741824 bytes/s; {@code 500M} = 500 MiB/s;
 *     {@code 64K}; a plain number is bytes/s;</li>
 * <li>{@code 100Mbit}, {@code 1Gbit/s}, {@code 800kbit}, {@code 100Mbps}: bits per second with
 *     <em>decimal</em> multiples as networks count them (100 Mbit/s = 12500000 bytes/s);</li>
 * <li>{@code 0} or {@code unlimited}: no limit.</li>
 * </ul>
 */
public final class Bandwidth {
    private static final Pattern BYTES = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([KMGT]?)(I?B)?(/S)?");
    private static final Pattern BITS = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([KMGT]?)(BIT|BPS)(/S)?");

    private Bandwidth() {}

    /** Bytes per second, or 0 for unlimited. */
    public static long parse(String text) {
        String s = text.trim().toUpperCase(Locale.ROOT);
        if (s.equals("UNLIMITED") || s.equals("0")) {
            return 0;
        }
        Matcher m = BITS.matcher(s);
        double v;
        if (m.matches()) {
            v = Double.parseDouble(m.group(1)) * decimal(m.group(2)) / 8;
        } else if ((m = BYTES.matcher(s)).matches()) {
            v = Double.parseDouble(m.group(1)) * binary(m.group(2));
        } else {
            throw new IllegalArgumentException("'" + text + "' is not a bandwidth: use bytes/s like 1G, 500M, 64K (binary, as QEMU's "
                    + "max-bandwidth) or bits/s like 100Mbit, 1Gbit (decimal), or 0 for unlimited");
        }
        if (v < 1 || v > Long.MAX_VALUE / 2) {
            throw new IllegalArgumentException("bandwidth '" + text + "' is out of range (at least 1 byte/s)");
        }
        return (long) v;
    }

    /** "1.0 GiB/s (8.59 Gbit/s)". */
    public static String format(long bytesPerSecond) {
        if (bytesPerSecond <= 0) {
            return "unlimited";
        }
        return io.d3vm.memory.Sizes.format(bytesPerSecond) + "/s (" + String.format(Locale.ROOT, "%.1f", bytesPerSecond * 8 / 1e6) + " Mbit/s)";
    }

    private static double binary(String u) {
        return switch (u) {
            case "K" -> 1L << 10;
            case "M" -> 1L << 20;
            case "G" -> 1L << 30;
            case "T" -> 1L << 40;
            default -> 1;
        };
    }

    private static double decimal(String u) {
        return switch (u) {
            case "K" -> 1e3;
            case "M" -> 1e6;
            case "G" -> 1e9;
            case "T" -> 1e12;
            default -> 1;
        };
    }
}
