package io.d3vm.api;

import com.fasterxml.jackson.databind.JsonNode;
import io.d3vm.memory.Sizes;
import io.d3vm.migration.detect.Detectors;
import io.d3vm.migration.send.Bandwidth;
import io.d3vm.migration.send.ByteSavings;
import io.d3vm.migration.send.SendOptions;
import io.d3vm.migration.send.Verify;
import io.d3vm.migration.tls.TlsDir;
import io.d3vm.migration.tls.TlsTransport;
import io.d3vm.migration.transport.TcpTransport;
import io.d3vm.migration.transport.Transport;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

/**
 * The arguments of the control API's {@code migrate} command, validated once: where to, the send
 * options (the same as {@code d3vm migrate}'s, with the same defaults), and the transport (TCP,
 * or TLS with {@code tls-dir}). Numbers may be given as JSON numbers (bytes/s, milliseconds) or as
 * the CLI's strings ({@code "1G"}, {@code "100Mbit"}, {@code "300ms"}).
 */
public record MigrateRequest(InetSocketAddress to, SendOptions options, int connectTimeoutMillis, Transport transport,
                             Path tlsDir) {
    /** The argument names {@code migrate} takes. */
    public static final List<String> ARGUMENTS = List.of("to", "detector", "samples", "max-bandwidth", "downtime-limit",
            "max-rounds", "connect-timeout", "ack-timeout", "tls-dir", "verify", "auto-converge", "allow-long-downtime",
            "postcopy", "postcopy-after", "max-postcopy-bandwidth", "compress", "duplicates");

    public String target() {
        return to.getHostString() + ":" + to.getPort();
    }

    /** Validates {@code arguments} (a JSON object, or null for none). */
    public static MigrateRequest parse(JsonNode arguments) throws ApiException {
        if (arguments == null || arguments.isNull()) {
            throw ApiException.invalid("migrate needs arguments: {\"to\": \"HOST:PORT\"} at least");
        }
        if (!arguments.isObject()) {
            throw ApiException.invalid("'arguments' must be a JSON object, e.g. {\"to\": \"127.0.0.1:7000\", \"detector\": \"d3\"}");
        }
        for (Iterator<String> it = arguments.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!ARGUMENTS.contains(k)) {
                throw ApiException.invalid("unknown migrate argument '" + k + "' (known: " + String.join(", ", ARGUMENTS) + ")");
            }
        }
        InetSocketAddress to = hostPort(text(arguments, "to", null));
        String detector = text(arguments, "detector", Detectors.DEFAULT_DETECTOR);
        if (!Detectors.NAMES.contains(detector)) {
            throw ApiException.invalid("unknown detector '" + detector + "': use one of " + String.join(", ", Detectors.NAMES));
        }
        int samples = (int) integer(arguments, "samples", Detectors.DEFAULT_SAMPLES, 0, 64);
        long maxBandwidth = bandwidth(arguments.get("max-bandwidth"));
        long downtime = millis(arguments, "downtime-limit", SendOptions.DEFAULT_DOWNTIME_LIMIT_MILLIS, 1);
        int maxRounds = (int) integer(arguments, "max-rounds", SendOptions.DEFAULT_MAX_ROUNDS, 1, 10_000);
        long connect = millis(arguments, "connect-timeout", SendOptions.DEFAULT_CONNECT_TIMEOUT_MILLIS, 1);
        long ack = millis(arguments, "ack-timeout", SendOptions.DEFAULT_ACK_TIMEOUT_MILLIS, 1);
        SendOptions options;
        try {
            Verify verify = Verify.parse(text(arguments, "verify", Verify.INCREMENTAL.json()));
            options = new SendOptions(detector, samples, maxBandwidth, downtime, maxRounds, ack, SendOptions.DEFAULT_STALL_TIMEOUT_MILLIS,
                    verify, flag(arguments, "auto-converge"), flag(arguments, "allow-long-downtime"),
                    arguments.has("postcopy-after") ? (int) integer(arguments, "postcopy-after", 0, 1, maxRounds)
                            : flag(arguments, "postcopy") ? SendOptions.POSTCOPY_WHEN_STUCK : SendOptions.NO_POSTCOPY,
                    bandwidth(arguments.get("max-postcopy-bandwidth")),
                    new ByteSavings(ByteSavings.compress(text(arguments, "compress", "auto")),
                            ByteSavings.duplicates(text(arguments, "duplicates", "auto"))));
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid(e.getMessage());
        }
        String tls = text(arguments, "tls-dir", "");
        Path tlsDir = null;
        Transport transport = new TcpTransport();
        if (!tls.isEmpty()) {
            tlsDir = Path.of(tls);
            try {
                transport = new TlsTransport(TlsDir.load(tlsDir));
            } catch (IOException | RuntimeException e) {
                throw ApiException.invalid("tls-dir " + tls + ": " + e.getMessage());
            }
        }
        return new MigrateRequest(to, options, (int) Math.min(Integer.MAX_VALUE, connect), transport, tlsDir);
    }

    /** A boolean argument, false when absent. */
    private static boolean flag(JsonNode args, String key) throws ApiException {
        JsonNode v = args.get(key);
        if (v == null || v.isNull()) {
            return false;
        }
        if (!v.isBoolean()) {
            throw ApiException.invalid("'" + key + "' must be true or false, got " + v);
        }
        return v.asBoolean();
    }

    private static String text(JsonNode args, String key, String dflt) throws ApiException {
        JsonNode v = args.get(key);
        if (v == null || v.isNull()) {
            if (dflt == null) {
                throw ApiException.invalid("migrate needs '" + key + "'");
            }
            return dflt;
        }
        if (!v.isTextual()) {
            throw ApiException.invalid("'" + key + "' must be a string, got " + v.getNodeType().name().toLowerCase(Locale.ROOT));
        }
        return v.asText();
    }

    private static long integer(JsonNode args, String key, long dflt, long min, long max) throws ApiException {
        JsonNode v = args.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < min || v.asLong() > max) {
            throw ApiException.invalid("'" + key + "' must be an integer " + min + ".." + max + ", got " + v);
        }
        return v.asLong();
    }

    /** Milliseconds: a JSON integer, or a string such as 300ms, 2s, 1.5s, 1m. */
    static long millis(JsonNode args, String key, long dflt, long min) throws ApiException {
        JsonNode v = args.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        long ms;
        if (v.isIntegralNumber() && v.canConvertToLong()) {
            ms = v.asLong();
        } else if (v.isTextual()) {
            ms = parseDuration(v.asText(), key);
        } else {
            throw ApiException.invalid("'" + key + "' must be milliseconds (a number) or a duration such as \"300ms\" or \"2s\", got " + v);
        }
        if (ms < min || ms > 86_400_000L) {
            throw ApiException.invalid("'" + key + "' of " + ms + " ms is outside " + min + " ms .. 24 h");
        }
        return ms;
    }

    private static long parseDuration(String s, String key) throws ApiException {
        try {
            return io.d3vm.migration.Durations.parseMillis(s);
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid("'" + key + "': " + e.getMessage());
        }
    }

    private static long bandwidth(JsonNode v) throws ApiException {
        if (v == null || v.isNull()) {
            return 0;
        }
        if (v.isIntegralNumber() && v.canConvertToLong() && v.asLong() >= 0) {
            return v.asLong();
        }
        if (v.isTextual()) {
            try {
                return Bandwidth.parse(v.asText());
            } catch (IllegalArgumentException e) {
                throw ApiException.invalid("'max-bandwidth': " + e.getMessage());
            }
        }
        throw ApiException.invalid("'max-bandwidth' must be bytes/s (a number, 0 = unlimited) or a rate such as \"1G\" or \"100Mbit\", got " + v);
    }

    /** {@code HOST:PORT} or {@code [v6]:PORT}, resolved (the CLI's parser: io.d3vm.migration.transport.HostPort). */
    static InetSocketAddress hostPort(String value) throws ApiException {
        try {
            return io.d3vm.migration.transport.HostPort.resolve(io.d3vm.migration.transport.HostPort.peer(value));
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid("'to': " + e.getMessage());
        }
    }

    /** For messages: the options as the CLI would write them. */
    public String summary() {
        return String.format(Locale.ROOT, "to %s, detector %s, samples %d, max-bandwidth %s, downtime-limit %d ms, max-rounds %d, verify %s%s",
                target(), options.detector(), options.samples(),
                options.maxBandwidth() == 0 ? "unlimited" : Sizes.format(options.maxBandwidth()) + "/s",
                options.downtimeLimitMillis(), options.maxRounds(), options.verify().json(), tlsDir == null ? "" : ", tls-dir " + tlsDir);
    }
}
