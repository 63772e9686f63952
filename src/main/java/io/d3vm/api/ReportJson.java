package io.d3vm.api;

import com.fasterxml.jackson.databind.JsonNode;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.send.SendPhase;
import io.d3vm.migration.send.SendProgress;

/**
 * Reads back what {@link MigrationReport#toJson} and {@link MigrationJob#query} write, so a client
 * of the control API ({@code d3vm migrate --api-socket}) prints the same progress line, summary and
 * report file as a migration run in its own process.
 */
public final class ReportJson {
    private ReportJson() {}

    /** The report in a {@code query-migrate} answer: {@link MigrationReport#fromJson}, the same schema both ways. */
    public static MigrationReport report(JsonNode o) {
        return MigrationReport.fromJson(o);
    }

    /** The {@code progress} object of a {@code query-migrate} answer, or null if it has none. */
    public static SendProgress progress(JsonNode o) {
        JsonNode p = o.get("progress");
        if (p == null || !p.isObject()) {
            return null;
        }
        SendPhase phase = SendPhase.fromJson(p.path("phase").asText());
        if (phase == null) {
            return null;
        }
        return new SendProgress(phase, p.path("round").asInt(), p.path("round-pages-done").asLong(),
                p.path("round-pages").asLong(), p.path("total-pages").asLong(), p.path("bytes-sent").asLong(),
                p.path("dirty-pages").asLong(), p.path("elapsed-ns").asLong());
    }

}
