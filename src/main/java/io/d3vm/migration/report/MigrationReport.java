package io.d3vm.migration.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The outcome of one migration, on either side, in QEMU {@code query-migrate} vocabulary (so
 * results compare with QEMU's directly) plus the D3 counters. Filled by the sender or receiver;
 * {@link #toJson} writes it for {@code --report FILE} and the control API, {@link #fromJson} reads
 * exactly that schema back (the API client's report file equals the server's). Every field is
 * documented in docs/REPORT.md.
 *
 * <p>Times are held as integral microseconds and written as milliseconds with three decimals, so
 * a report read back is equal to the one written; derived values ({@link #mbps},
 * {@link #dispensablePages}) are computed here only, from those integers.
 */
public final class MigrationReport {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    public MigrationStatus status = MigrationStatus.SETUP;
    public String error;
    public String role;
    public String guest;
    public String peer;
    public String transport;
    public long totalTimeUs;
    public long setupTimeUs;
    public Long downtimeUs;
    public Long downtimeLimitUs;
    public String stopReason;
    public Long maxBandwidth;
    /** Source: {@code --auto-converge} was on. */
    public boolean autoConverge;
    /** Source, auto-converge: wall time during which the guest was throttled. */
    public long throttleTimeUs;
    /** {@code incremental}, {@code strict} or {@code off} (the sender's {@code --verify}). */
    public String verify;
    public Long digestTimeUs;
    public Long ackWaitUs;
    public Boolean digestMatch;
    public Long digest;
    /** Source: the whole paused memory hashed after GO equals the destination's digest (null: not run). */
    public Boolean auditMatch;
    public Long auditTimeUs;
    /** Where the pause went, phase name to microseconds, in order (docs/REPORT.md lists the names). */
    public final Map<String, Long> downtimePhasesUs = new LinkedHashMap<>();

    public long ramTotal;
    public long ramTransferred;
    public long ramNormal;
    public long ramRemaining;
    public long dirtySyncCount;
    /** Pages by class ordinal: NORMAL, ZERO, UNIFORM, UNPOPULATED, DUPLICATE (sent as references). */
    public final long[] pagesByClass = new long[5];
    public Long pagesCleared;

    public String detector;
    public Integer samples;
    public Long sampledWords;
    public Long fullChecks;
    public Long samplerMisses;
    public Long detectorNanos;

    public final List<RoundRecord> rounds = new ArrayList<>();
    /** Post-copy's part, when the migration ended with it (null otherwise). */
    public PostcopyRecord postcopy;
    /** Compression and duplicate references, when either was on (null otherwise). */
    public SavingsRecord savings;
    /** The kernel's view of the TCP connection (source; null where it could not say: not TCP, another kernel). */
    public LinkRecord link;

    /** Microseconds since {@code fromNanos} ({@link System#nanoTime} time base). */
    public static long microsSince(long fromNanos) {
        return (System.nanoTime() - fromNanos) / 1000;
    }

    /** Pages that crossed as metadata only: zero + uniform + unpopulated, over all rounds (QEMU's {@code ram.duplicate}). */
    public long dispensablePages() {
        return pagesByClass[1] + pagesByClass[2] + pagesByClass[3];
    }

    /** The highest throttle auto-converge reached (QEMU's {@code cpu-throttle-percentage}), 0 when none. */
    public int cpuThrottlePercentage() {
        int max = 0;
        for (RoundRecord r : rounds) {
            max = Math.max(max, r.throttlePercent());
        }
        return max;
    }

    /** Megabits per second over the whole migration, as QEMU's {@code ram.mbps}. */
    public double mbps() {
        return totalTimeUs <= 0 ? 0 : ramTransferred * 8.0 / totalTimeUs;
    }

    public double totalTimeMs() {
        return totalTimeUs / 1e3;
    }

    public void phase(PauseStep step, long micros) {
        downtimePhasesUs.put(step.json(), micros);
    }

    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.put("status", status.json());
        if (error != null) {
            o.put("error", error);
        }
        o.put("role", role);
        o.put("guest", guest);
        o.put("peer", peer);
        o.put("transport", transport);
        o.put("total-time", ms(totalTimeUs));
        o.put("setup-time", ms(setupTimeUs));
        putMs(o, "downtime", downtimeUs);
        putMs(o, "downtime-limit", downtimeLimitUs);
        if (stopReason != null) {
            o.put("stop-reason", stopReason);
        }
        if (maxBandwidth != null) {
            o.put("max-bandwidth", maxBandwidth);
        }
        if (autoConverge) {
            o.put("auto-converge", true);
            o.put("cpu-throttle-percentage", cpuThrottlePercentage());
            o.put("throttle-time", ms(throttleTimeUs));
        }
        if (verify != null) {
            o.put("verify", verify);
        }
        putMs(o, "digest-time", digestTimeUs);
        putMs(o, "ack-wait", ackWaitUs);
        if (digestMatch != null) {
            o.put("digest-match", digestMatch);
        } else {
            o.putNull("digest-match");
        }
        if (digest != null) {
            o.put("digest", String.format(Locale.ROOT, "0x%016x", digest));
        }
        if (auditMatch != null) {
            o.put("audit-match", auditMatch);
        }
        putMs(o, "audit-time", auditTimeUs);
        if (!downtimePhasesUs.isEmpty()) {
            ObjectNode ph = o.putObject("downtime-phases");
            downtimePhasesUs.forEach((k, v) -> ph.put(k, ms(v)));
        }
        ObjectNode ram = o.putObject("ram");
        ram.put("total", ramTotal);
        ram.put("transferred", ramTransferred);
        ram.put("remaining", ramRemaining);
        ram.put("duplicate", dispensablePages());
        ram.put("normal", ramNormal);
        ram.put("normal-bytes", ramNormal * 4096);
        ram.put("mbps", Math.round(mbps() * 1000) / 1000.0);
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
        pages.put("duplicate", pagesByClass[4]);
        if (pagesCleared != null) {
            d3.put("pages-cleared", pagesCleared);
        }
        if (sampledWords != null) {
            d3.put("sampled-words", sampledWords);
            d3.put("full-checks", fullChecks);
            d3.put("sampler-misses", samplerMisses);
            d3.put("detector-ns", detectorNanos);
        }
        if (postcopy != null) {
            ObjectNode pc = o.putObject("postcopy");
            pc.put("time", ms(postcopy.timeUs()));
            pc.put("pages", postcopy.pages());
            pc.put("bytes", postcopy.bytes());
            pc.put("requests", postcopy.requests());
            pc.put("faults-remote", postcopy.faultsRemote());
            pc.put("faults-local", postcopy.faultsLocal());
            if (postcopy.latencyMaxUs() != null) {
                ObjectNode lat = pc.putObject("fault-latency");
                lat.put("p50", ms(postcopy.latencyP50Us()));
                lat.put("p99", ms(postcopy.latencyP99Us()));
                lat.put("max", ms(postcopy.latencyMaxUs()));
            }
        }
        if (savings != null) {
            ObjectNode sv = o.putObject("savings");
            putText(sv, "compress", savings.compress());
            putText(sv, "codec", savings.codec());
            if (savings.level() > 0) {
                sv.put("level", savings.level());
            }
            sv.put("compressed-frames", savings.framesCompressed());
            sv.put("raw-frames", savings.framesRaw());
            sv.put("bytes-before", savings.bytesBefore());
            sv.put("bytes-after", savings.bytesAfter());
            sv.put("compress-time", ms(savings.compressUs()));
            putText(sv, "duplicates", savings.duplicates());
            sv.put("duplicate-pages", savings.duplicatePages());
            sv.put("index-bytes", savings.indexBytes());
            sv.put("index-slots", savings.indexSlots());
            sv.put("index-evictions", savings.indexEvictions());
            sv.put("hash-time", ms(savings.hashUs()));
        }
        if (link != null) {
            ObjectNode l = o.putObject("link");
            l.put("busy", ms(link.busyUs()));
            l.put("receiver-limited", ms(link.receiverLimitedUs()));
            l.put("send-buffer-limited", ms(link.sendBufferLimitedUs()));
            l.put("delivery-rate", Math.round(link.deliveryRateBytesPerSecond() * 8 / 1e3) / 1e3);
            l.put("rtt", ms(link.rttUs()));
            l.put("min-rtt", ms(link.minRttUs()));
            l.put("retransmitted-bytes", link.bytesRetransmitted());
        }
        ArrayNode rs = o.putArray("rounds");
        for (RoundRecord r : rounds) {
            ObjectNode n = rs.addObject();
            n.put("round", r.round());
            n.put("pages", r.pages());
            n.put("normal", r.normalPages());
            n.put("bytes", r.bytes());
            n.put("duration-ms", ms(r.durationUs()));
            if (autoConverge) {
                n.put("cpu-throttle-percentage", r.throttlePercent());
            }
        }
        return o;
    }

    /** Reads what {@link #toJson} wrote (fields it did not write stay at their defaults). */
    public static MigrationReport fromJson(JsonNode o) {
        MigrationReport r = new MigrationReport();
        r.status = MigrationStatus.fromJson(o.path("status").asText(MigrationStatus.FAILED.json()));
        r.error = text(o, "error");
        r.role = text(o, "role");
        r.guest = text(o, "guest");
        r.peer = text(o, "peer");
        r.transport = text(o, "transport");
        r.totalTimeUs = micros(o, "total-time", 0L);
        r.setupTimeUs = micros(o, "setup-time", 0L);
        r.downtimeUs = micros(o, "downtime", null);
        r.downtimeLimitUs = micros(o, "downtime-limit", null);
        r.stopReason = text(o, "stop-reason");
        r.maxBandwidth = lng(o, "max-bandwidth");
        r.autoConverge = o.path("auto-converge").asBoolean(false);
        r.throttleTimeUs = micros(o, "throttle-time", 0L);
        r.verify = text(o, "verify");
        r.digestTimeUs = micros(o, "digest-time", null);
        r.ackWaitUs = micros(o, "ack-wait", null);
        r.digestMatch = o.hasNonNull("digest-match") ? o.get("digest-match").asBoolean() : null;
        r.digest = o.hasNonNull("digest") ? Long.parseUnsignedLong(o.get("digest").asText().replaceFirst("^0x", ""), 16) : null;
        r.auditMatch = o.hasNonNull("audit-match") ? o.get("audit-match").asBoolean() : null;
        r.auditTimeUs = micros(o, "audit-time", null);
        o.path("downtime-phases").properties().forEach(e -> r.downtimePhasesUs.put(e.getKey(), Math.round(e.getValue().asDouble() * 1000)));
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
        r.pagesByClass[4] = pages.path("duplicate").asLong();
        r.pagesCleared = lng(d3, "pages-cleared");
        if (d3.hasNonNull("sampled-words")) {
            r.sampledWords = lng(d3, "sampled-words");
            r.fullChecks = lng(d3, "full-checks");
            r.samplerMisses = lng(d3, "sampler-misses");
            r.detectorNanos = lng(d3, "detector-ns");
        }
        JsonNode pc = o.path("postcopy");
        if (pc.isObject()) {
            JsonNode lat = pc.path("fault-latency");
            r.postcopy = new PostcopyRecord(micros(pc, "time", 0L), pc.path("pages").asLong(), pc.path("bytes").asLong(),
                    pc.path("requests").asLong(), pc.path("faults-remote").asLong(), pc.path("faults-local").asLong(),
                    micros(lat, "p50", null), micros(lat, "p99", null), micros(lat, "max", null));
        }
        JsonNode sv = o.path("savings");
        if (sv.isObject()) {
            r.savings = new SavingsRecord(text(sv, "compress"), text(sv, "codec"), sv.path("level").asInt(), sv.path("compressed-frames").asLong(),
                    sv.path("raw-frames").asLong(), sv.path("bytes-before").asLong(), sv.path("bytes-after").asLong(),
                    micros(sv, "compress-time", 0L), text(sv, "duplicates"), sv.path("duplicate-pages").asLong(),
                    sv.path("index-bytes").asLong(), sv.path("index-slots").asLong(), sv.path("index-evictions").asLong(),
                    micros(sv, "hash-time", 0L));
        }
        JsonNode l = o.path("link");
        if (l.isObject()) {
            r.link = new LinkRecord(micros(l, "busy", 0L), micros(l, "receiver-limited", 0L), micros(l, "send-buffer-limited", 0L),
                    Math.round(l.path("delivery-rate").asDouble() * 1e6 / 8), micros(l, "rtt", 0L), micros(l, "min-rtt", 0L),
                    l.path("retransmitted-bytes").asLong());
        }
        for (JsonNode n : o.path("rounds")) {
            r.rounds.add(new RoundRecord(n.path("round").asInt(), n.path("pages").asLong(), n.path("normal").asLong(),
                    n.path("bytes").asLong(), Math.round(n.path("duration-ms").asDouble() * 1000), n.path("cpu-throttle-percentage").asInt(0)));
        }
        return r;
    }

    public String toJsonString() {
        try {
            return JSON.writeValueAsString(toJson());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Microseconds as milliseconds: exact in three decimals, so {@link #fromJson} gets the same integer back. */
    private static double ms(long micros) {
        return micros / 1e3;
    }

    private static void putText(ObjectNode o, String k, String v) {
        if (v != null) {
            o.put(k, v);
        }
    }

    private static void putMs(ObjectNode o, String k, Long micros) {
        if (micros != null) {
            o.put(k, ms(micros));
        }
    }

    private static Long micros(JsonNode o, String k, Long absent) {
        return o.hasNonNull(k) ? Long.valueOf(Math.round(o.get(k).asDouble() * 1000)) : absent;
    }

    private static String text(JsonNode o, String k) {
        return o.hasNonNull(k) ? o.get(k).asText() : null;
    }

    private static Long lng(JsonNode o, String k) {
        return o.hasNonNull(k) ? o.get(k).asLong() : null;
    }
}
