package io.d3vm.migration.recv;

import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.report.MigrationStatus;
import io.d3vm.migration.report.PauseStep;
import io.d3vm.migration.report.RoundRecord;

import java.util.ArrayList;
import java.util.List;

/**
 * What a destination saw of one migration; written by the receiving thread, read for the report
 * after {@link MigrationReceiver#receive} returns or throws.
 */
public final class ReceiveStats {
    public String description;
    public String peer;
    public long totalBytes;
    /** Pages per class ordinal (NORMAL, ZERO, UNIFORM, UNPOPULATED, DUPLICATE) over all rounds. */
    public final long[] pagesByClass = new long[5];
    /** Dispensable records that had to clear a page received earlier (the received-map rule at work). */
    public long pagesCleared;
    public long bytesReceived;
    public int rounds;
    public long digest;
    public long sourceDigest;
    public Boolean digestMatch;
    public long digestNanos;
    public long startNanos;
    public long setupNanos;
    public long totalNanos;
    public final List<RoundRecord> roundRecords = new ArrayList<>();
    /** {@code incremental}, {@code strict} or {@code off}, as the source's handshake asked. */
    public String verify;
    /** Where this side's part of the pause went, phase name to microseconds (docs/REPORT.md). */
    public final java.util.Map<String, Long> phasesUs = new java.util.LinkedHashMap<>();
    /** Post-copy's part, when the source ended with it. */
    public io.d3vm.migration.report.PostcopyRecord postcopy;
    /** Whether the source offered compression or duplicates, and the compressed bytes read and what they inflated to. */
    public boolean savingsOffered;
    public long packedBytes;
    public long inflatedBytes;

    public void phase(PauseStep step, long micros) {
        phasesUs.put(step.json(), micros);
    }

    /** This side's report: the destination's view in the schema both sides write ({@link MigrationReport}). */
    public MigrationReport toReport(boolean ok, String error, String transport) {
        MigrationReport r = new MigrationReport();
        r.status = ok ? MigrationStatus.COMPLETED : MigrationStatus.FAILED;
        r.error = error;
        r.role = "destination";
        r.guest = description;
        r.peer = peer;
        r.transport = transport;
        r.totalTimeUs = totalNanos / 1000;
        r.setupTimeUs = setupNanos / 1000;
        r.digestTimeUs = digestNanos == 0 ? null : digestNanos / 1000;
        r.digestMatch = digestMatch;
        r.digest = digestMatch == null ? null : digest;
        r.ramTotal = totalBytes;
        r.ramTransferred = bytesReceived;
        r.ramNormal = pagesByClass[0];
        System.arraycopy(pagesByClass, 0, r.pagesByClass, 0, pagesByClass.length);
        r.pagesCleared = pagesCleared;
        r.dirtySyncCount = rounds;
        r.rounds.addAll(roundRecords);
        r.verify = verify;
        r.downtimePhasesUs.putAll(phasesUs);
        r.postcopy = postcopy;
        if (savingsOffered) {
            r.savings = new io.d3vm.migration.report.SavingsRecord(null, null, 0, 0, 0, inflatedBytes, packedBytes, 0, null,
                    pagesByClass[io.d3vm.migration.wire.Wire.CLASS_DUPLICATE], 0, 0, 0, 0);
        }
        return r;
    }
}
