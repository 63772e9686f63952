package io.d3vm.api;

import com.fasterxml.jackson.databind.JsonNode;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.report.RoundRecord;
import io.d3vm.migration.send.SendProgress;

/**
 * Reads back what {@link MigrationReport#toJson} and {@link MigrationJob#query} write, so a client
 * of the control API ({@code d3vm migrate --api-socket}) prints the same progress line, summary and
 * report file as a migration run in its own process.
 */
public final class ReportJson {
    private ReportJson() {}

    /** The report in a {@code query-migrate} answer. Missing fields stay at their defaults. */
    public static MigrationReport report(JsonNode o) {
        MigrationReport r = new MigrationReport();
        r.status = o.path("status").asText("failed");
        r.error = text(o, "error");
        r.role = text(o, "role");
        r.guest = text(o, "guest");
        r.peer = text(o, "peer");
        r.transport = text(o, "transport");
        r.totalTimeMs = o.path("total-time").asDouble();
        r.setupTimeMs = o.path("setup-time").asDouble();
        r.downtimeMs = dbl(o, "downtime");
        r.downtimeLimitMs = dbl(o, "downtime-limit");
        r.stopReason = text(o, "stop-reason");
        r.maxBandwidth = lng(o, "max-bandwidth");
        r.digestTimeMs = dbl(o, "digest-time");
        r.ackWaitMs = dbl(o, "ack-wait");
        r.digestMatch = o.hasNonNull("digest-match") ? o.get("digest-match").asBoolean() : null;
        r.digest = o.hasNonNull("digest") ? Long.parseUnsignedLong(o.get("digest").asText().replaceFirst("^0x", ""), 16) : null;
        JsonNode ram = o.path("ram");
        r.ramTotal = ram.path("total").asLong();
        r.ramTransferred = ram.path("transferred").asLong();
        r.ramRemaining = ram.path("remaining").asLong();
        r.ramNormal = ram.path("normal").asLong();
        r.dirtySyncCount = ram.path("dirty-sync-count").asLong();
        JsonNode d3 = o.path("d3");
        r.detector = text(d3, "detector");
        r.samples = d3.hasNonNull("samples") ? d3.get("samples").asInt() : null;
        JsonNode pages = d3.path("pages");
        r.pagesByClass[0] = pages.path("normal").asLong();
        r.pagesByClass[1] = pages.path("zero").asLong();
        r.pagesByClass[2] = pages.path("uniform").asLong();
        r.pagesByClass[3] = pages.path("unpopulated").asLong();
        r.ramDuplicate = r.pagesByClass[1] + r.pagesByClass[2] + r.pagesByClass[3];
        r.pagesCleared = lng(d3, "pages-cleared");
        if (d3.hasNonNull("sampled-words")) {
            r.sampledWords = lng(d3, "sampled-words");
            r.fullChecks = lng(d3, "full-checks");
            r.falseDispensable = lng(d3, "false-dispensable");
            r.detectorNanos = lng(d3, "detector-ns");
        }
        for (JsonNode n : o.path("rounds")) {
            r.rounds.add(new RoundRecord(n.path("round").asInt(), n.path("pages").asLong(), n.path("normal").asLong(),
                    n.path("bytes").asLong(), n.path("duration-ms").asDouble()));
        }
        return r;
    }

    /** The {@code progress} object of a {@code query-migrate} answer, or null if it has none. */
    public static SendProgress progress(JsonNode o) {
        JsonNode p = o.get("progress");
        if (p == null || !p.isObject()) {
            return null;
        }
        return new SendProgress(p.path("phase").asText("?"), p.path("round").asInt(), p.path("round-pages-done").asLong(),
                p.path("round-pages").asLong(), p.path("total-pages").asLong(), p.path("bytes-sent").asLong(),
                p.path("dirty-pages").asLong(), p.path("elapsed-ns").asLong());
    }

    private static String text(JsonNode o, String k) {
        return o.hasNonNull(k) ? o.get(k).asText() : null;
    }

    private static Double dbl(JsonNode o, String k) {
        return o.hasNonNull(k) ? o.get(k).asDouble() : null;
    }

    private static Long lng(JsonNode o, String k) {
        return o.hasNonNull(k) ? o.get(k).asLong() : null;
    }
}
