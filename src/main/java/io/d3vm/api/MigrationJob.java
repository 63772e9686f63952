package io.d3vm.api;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.d3vm.migration.Warmup;
import io.d3vm.migration.MigrationException;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.report.MigrationStatus;
import io.d3vm.migration.send.MigrationSender;
import io.d3vm.migration.send.PostcopyRecovery;
import io.d3vm.migration.send.SendPhase;
import io.d3vm.migration.send.SendProgress;
import io.d3vm.migration.wire.Wire;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * One migration started through the control API: a {@link MigrationSender} on its own thread, its
 * status for {@code query-migrate} and its cancellation. Status is {@code active} until the sender
 * returns, then {@code completed} (the destination acknowledged: the guest runs there and has
 * ended here), {@code failed} or {@code cancelled} (the guest runs on here, intact).
 */
public final class MigrationJob {
    private final MigrateRequest request;
    private final MigrationSender sender;
    private final CountDownLatch ended = new CountDownLatch(1);
    private volatile MigrationReport finalReport;
    private volatile SendProgress lastProgress;

    private MigrationJob(Migratable guest, MigrateRequest request) {
        this.request = request;
        this.sender = new MigrationSender(guest, request.options());
    }

    /** Starts migrating {@code guest} on a new thread. */
    public static MigrationJob start(Migratable guest, MigrateRequest request) {
        MigrationJob job = new MigrationJob(guest, request);
        Thread.ofPlatform().name("api-migration").daemon().start(job::run);
        return job;
    }

    private void run() {
        try {
            Warmup.awaitIfStarted();
            sender.migrate(request.transport(), request.to(), request.connectTimeoutMillis());
        } catch (MigrationException e) {
            // the report carries the error and the status (failed or cancelled); a broken post-copy is resumed
            PostcopyRecovery.resumeUntilDone(sender, request.transport(), request.to(), request.connectTimeoutMillis(),
                    line -> System.err.println("d3vm: " + line));
        } catch (RuntimeException e) {
            sender.report().status = MigrationStatus.FAILED;
            sender.report().error = "migration failed: " + e;
        } finally {
            lastProgress = sender.progress();
            finalReport = sender.report();
            ended.countDown();
        }
    }

    public MigrateRequest request() {
        return request;
    }

    /**
     * {@code active}, {@code completed}, {@code failed}, {@code cancelled}, or {@code unconfirmed}
     * (committed, but sending GO failed: the guest stays paused here and at the destination).
     */
    public MigrationStatus status() {
        MigrationReport r = finalReport;
        return r == null ? MigrationStatus.ACTIVE : r.status;
    }

    /** The report once the migration ended, else null. */
    public MigrationReport finalReport() {
        return finalReport;
    }

    public boolean isActive() {
        return finalReport == null;
    }

    public boolean completed() {
        return status() == MigrationStatus.COMPLETED;
    }

    /** Asks the sender to stop; false when it is too late (the final state is on its way) or over. */
    public boolean cancel() {
        return finalReport == null && sender.cancel();
    }

    /** Waits for the migration to end; true if it did within {@code timeout}. */
    public boolean awaitEnd(Duration timeout) throws InterruptedException {
        return ended.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    /** The final report, or null while active. */
    public MigrationReport report() {
        return finalReport;
    }

    /** The phase the sender is in. */
    public SendPhase phase() {
        SendProgress p = finalReport == null ? sender.progress() : lastProgress;
        return p.phase();
    }

    /**
     * The {@code query-migrate} answer: while active the fields known so far (QEMU shows
     * {@code ram.*} during a migration too) and {@code progress}; once ended the full report
     * ({@code --report}'s fields) plus the last progress.
     */
    public ObjectNode query() {
        MigrationReport r = finalReport;
        if (r != null) {
            ObjectNode o = r.toJson();
            o.set("progress", progressJson(lastProgress));
            return o;
        }
        SendProgress p = sender.progress();
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("status", MigrationStatus.ACTIVE.json());
        o.put("phase", p.phase().json());
        o.put("role", "source");
        o.put("guest", sender.report().guest);
        o.put("peer", request.target());
        o.put("transport", request.transport().name());
        o.put("total-time", Math.round(p.elapsedNanos() / 1e3) / 1e3);
        ObjectNode ram = o.putObject("ram");
        ram.put("total", p.totalPages() * Wire.PAGE_SIZE);
        ram.put("transferred", p.bytesSent());
        ram.put("remaining", (Math.max(0, p.roundPages() - p.roundPagesDone()) + p.dirtyPages()) * Wire.PAGE_SIZE);
        ram.put("page-size", Wire.PAGE_SIZE);
        ObjectNode d3 = o.putObject("d3");
        d3.put("detector", request.options().detector());
        d3.put("samples", request.options().samples());
        o.set("progress", progressJson(p));
        return o;
    }

    static ObjectNode progressJson(SendProgress p) {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("phase", p.phase().json());
        o.put("round", p.round());
        o.put("round-pages-done", p.roundPagesDone());
        o.put("round-pages", p.roundPages());
        o.put("total-pages", p.totalPages());
        o.put("bytes-sent", p.bytesSent());
        o.put("dirty-pages", p.dirtyPages());
        o.put("elapsed-ns", p.elapsedNanos());
        o.put("percent", Math.round(p.percent() * 10) / 10.0);
        return o;
    }
}
