package io.d3vm.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.d3vm.api.ApiClient;
import io.d3vm.api.ApiException;
import io.d3vm.api.ReportJson;
import io.d3vm.memory.Sizes;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.report.MigrationStatus;
import io.d3vm.migration.send.SendPhase;
import io.d3vm.migration.send.SendProgress;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code d3vm migrate --api-socket PATH}: drives a migration of a running VM through its control
 * API and prints what a migration run in this process prints ({@link MigrationOutput}: the
 * progress line, the summary, the report file), from {@code query-migrate} answers. Ctrl-C here
 * cancels the migration (the guest keeps running in its VM). Also used by {@code d3vm demo}.
 */
final class ApiMigration {
    private static final long POLL_MILLIS = 200;

    private ApiMigration() {}

    /** The API's migrate arguments for the command's options: every option a migration takes, none left behind. */
    static ObjectNode requestArguments(MigrateCommand c) {
        ObjectNode args = ApiClient.object();
        args.put("to", c.to.getHostString() + ":" + c.to.getPort());
        args.put("detector", c.detector);
        args.put("samples", c.samples);
        args.put("max-bandwidth", c.maxBandwidth);
        args.put("downtime-limit", c.downtimeLimitMillis);
        args.put("max-rounds", c.maxRounds);
        args.put("connect-timeout", c.connectTimeoutMillis);
        args.put("ack-timeout", c.ackTimeoutMillis);
        args.put("verify", c.verify.json());
        args.put("auto-converge", c.autoConverge);
        args.put("allow-long-downtime", c.allowLongDowntime);
        args.put("postcopy", c.postcopy);
        args.put("max-postcopy-bandwidth", c.maxPostcopyBandwidth);
        args.put("compress", c.compress.name().toLowerCase(java.util.Locale.ROOT));
        args.put("duplicates", c.duplicates.name().toLowerCase(java.util.Locale.ROOT));
        if (c.postcopyAfter != null) {
            args.put("postcopy-after", c.postcopyAfter);
        }
        if (c.transportOptions.tlsDir != null) {
            // The VM's process opens it, from its own working directory.
            args.put("tls-dir", c.transportOptions.tlsDir.toAbsolutePath().toString());
        }
        return args;
    }

    static int run(MigrateCommand c, PrintWriter stdout, PrintWriter err) throws IOException, InterruptedException {
        PrintWriter out = MigrationOutput.toStdout(c.report) ? err : stdout; // --report -: stdout is the JSON's
        ObjectNode args = requestArguments(c);
        MigrationReport r = migrate(c.apiSocket, args, out, err, c.progress || (System.console() != null && System.console().isTerminal()));
        if (r == null) {
            return ExitCode.FAILED;
        }
        MigrationOutput.writeReport(c.report, r, stdout, err);
        if (r.status == MigrationStatus.COMPLETED && Boolean.FALSE.equals(r.auditMatch)) {
            err.println("d3vm: " + r.error);
            return ExitCode.AUDIT_MISMATCH;
        }
        return r.status == MigrationStatus.COMPLETED ? ExitCode.OK : ExitCode.FAILED;
    }

    /**
     * Starts the migration, shows progress until it ends, prints the summary and returns the final
     * report; null (after saying why on {@code err}) when the API refused or could not be reached.
     */
    static MigrationReport migrate(Path socket, ObjectNode args, PrintWriter out, PrintWriter err, boolean terminal)
            throws IOException, InterruptedException {
        try (ApiClient api = ApiClient.connect(socket)) {
            JsonNode st = api.call("query-status");
            out.printf(Locale.ROOT, "guest %s: %s, %s in the VM at %s; migrating to %s with detector %s%n", st.path("guest").asText("?"),
                    Sizes.format(st.path("memory").asLong()), st.path("status").asText("?"), socket, args.path("to").asText(),
                    args.path("detector").asText("d3"));
            out.flush();
            api.call("migrate", args);
            Thread cancelOnExit = Thread.ofPlatform().unstarted(() -> cancel(socket));
            Runtime.getRuntime().addShutdownHook(cancelOnExit);
            JsonNode last = api.call("query-migrate");
            AtomicReference<SendProgress> latest = new AtomicReference<>(progressOf(last));
            try (var p = new MigrationOutput.ProgressPrinter(latest::get, out, terminal)) {
                while (MigrationStatus.ACTIVE.json().equals(last.path("status").asText())) {
                    Thread.sleep(POLL_MILLIS);
                    last = api.call("query-migrate");
                    latest.set(progressOf(last));
                }
            } finally {
                try {
                    Runtime.getRuntime().removeShutdownHook(cancelOnExit);
                } catch (IllegalStateException shuttingDown) {
                    // the hook runs anyway
                }
            }
            MigrationReport r = ReportJson.report(last);
            out.print(MigrationOutput.summary(r));
            if (r.status == MigrationStatus.COMPLETED) {
                out.println("  the guest runs at " + args.path("to").asText() + " now; its VM at " + socket + " has ended");
            } else {
                err.println("d3vm: " + r.error);
            }
            out.flush();
            err.flush();
            return r;
        } catch (ApiException e) {
            err.println("d3vm: the VM at " + socket + " refused: " + e.getMessage());
            err.flush();
            return null;
        }
    }

    private static SendProgress progressOf(JsonNode q) {
        SendProgress p = ReportJson.progress(q);
        return p != null ? p : new SendProgress(SendPhase.SETUP, 0, 0, 0, 0, 0, 0, 0);
    }

    /** Ctrl-C while migrating: stop the migration so the guest is not left half-moved without a driver. */
    private static void cancel(Path socket) {
        try (ApiClient api = ApiClient.connect(socket)) {
            if (MigrationStatus.ACTIVE.json().equals(api.call("query-migrate").path("status").asText())) {
                api.call("migrate-cancel");
                System.err.println("d3vm: migration cancelled; the guest keeps running in its VM");
            }
        } catch (IOException | ApiException e) {
            // the VM is gone or the migration passed its point of no return
        }
    }
}
