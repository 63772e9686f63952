package io.d3vm.migration.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The outcome of one migration, on either side, in QEMU {@code query-migrate} vocabulary (so
 * results compare with QEMU's directly) plus the D3 counters. Filled by the sender or receiver,
 * turned into JSON by {@link #toJson} for {@code --report FILE} and for the VMM's control API.
 * Every field is documented in README.md ("Migration report"). Times are milliseconds.
 */
public final class MigrationReport {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    public String status = "setup";
    public String error;
    public String role;
    public String guest;
    public String peer;
    public String transport;
    public double totalTimeMs;
    public double setupTimeMs;
    public Double downtimeMs;
    public Double downtimeLimitMs;
    public String stopReason;
    public Long maxBandwidth;
    public Double digestTimeMs;
    public Double ackWaitMs;
    public Boolean digestMatch;
    public Long digest;

    public long ramTotal;
    public long ramTransferred;
    public long ramDuplicate;
    public long ramNormal;
    public long ramRemaining;
    public long dirtySyncCount;
    /** Pages by class ordinal: NORMAL, ZERO, UNIFORM, UNPOPULATED. */
    public final long[] pagesByClass = new long[4];
    public Long pagesCleared;

    public String detector;
    public Integer samples;
    public Long sampledWords;
    public Long fullChecks;
    public Long falseDispensable;
    public Long detectorNanos;

    public final List<RoundRecord> rounds = new ArrayList<>();

    /** Megabits per second over the whole migration, as QEMU's {@code ram.mbps}. */
    public double mbps() {
        return totalTimeMs <= 0 ? 0 : ramTransferred * 8 / 1e6 / (totalTimeMs / 1e3);
    }

    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.put("status", status);
        if (error != null) {
            o.put("error", error);
        }
        o.put("role", role);
        o.put("guest", guest);
        o.put("peer", peer);
        o.put("transport", transport);
        o.put("total-time", round(totalTimeMs));
        o.put("setup-time", round(setupTimeMs));
        if (downtimeMs != null) {
            o.put("downtime", round(downtimeMs));
        }
        if (downtimeLimitMs != null) {
            o.put("downtime-limit", round(downtimeLimitMs));
        }
        if (stopReason != null) {
            o.put("stop-reason", stopReason);
        }
        if (maxBandwidth != null) {
            o.put("max-bandwidth", maxBandwidth);
        }
        if (digestTimeMs != null) {
            o.put("digest-time", round(digestTimeMs));
        }
        if (ackWaitMs != null) {
            o.put("ack-wait", round(ackWaitMs));
        }
        if (digestMatch != null) {
            o.put("digest-match", digestMatch);
        } else {
            o.putNull("digest-match");
        }
        if (digest != null) {
            o.put("digest", String.format(Locale.ROOT, "0x%016x", digest));
        }
        ObjectNode ram = o.putObject("ram");
        ram.put("total", ramTotal);
        ram.put("transferred", ramTransferred);
        ram.put("remaining", ramRemaining);
        ram.put("duplicate", pagesByClass[1] + pagesByClass[2] + pagesByClass[3]);
        ram.put("normal", ramNormal);
        ram.put("normal-bytes", ramNormal * 4096);
        ram.put("mbps", round(mbps()));
        ram.put("dirty-sync-count", dirtySyncCount);
        ram.put("page-size", 4096);
        ObjectNode d3 = o.putObject("d3");
        if (detector != null) {
            d3.put("detector", detector);
        }
        if (samples != null) {
            d3.put("samples", samples);
        }
        ObjectNode pages = d3.putObject("pages");
        pages.put("normal", pagesByClass[0]);
        pages.put("zero", pagesByClass[1]);
        pages.put("uniform", pagesByClass[2]);
        pages.put("unpopulated", pagesByClass[3]);
        if (pagesCleared != null) {
            d3.put("pages-cleared", pagesCleared);
        }
        if (sampledWords != null) {
            d3.put("sampled-words", sampledWords);
            d3.put("full-checks", fullChecks);
            d3.put("false-dispensable", falseDispensable);
            d3.put("detector-ns", detectorNanos);
        }
        ArrayNode rs = o.putArray("rounds");
        for (RoundRecord r : rounds) {
            ObjectNode n = rs.addObject();
            n.put("round", r.round());
            n.put("pages", r.pages());
            n.put("normal", r.normalPages());
            n.put("bytes", r.bytes());
            n.put("duration-ms", round(r.durationMs()));
        }
        return o;
    }

    public String toJsonString() {
        try {
            return JSON.writeValueAsString(toJson());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }
}
