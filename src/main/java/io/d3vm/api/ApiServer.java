package io.d3vm.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.d3vm.memory.ElfCoreWriter;
import io.d3vm.migration.Warmup;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.report.MigrationStatus;
import io.d3vm.migration.guest.Migratable;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The control API of a running VM, in the style of QEMU's QMP: JSON lines over a Unix domain
 * socket. The server greets each client with {@code {"d3vm": {...}}}; each request is one line
 * {@code {"execute": "CMD", "arguments": {...}, "id": ...}} and gets one line back,
 * {@code {"return": {...}}} or {@code {"error": {"class": ..., "desc": ...}}} (with the request's
 * {@code id}, if it had one). Commands:
 * <ul>
 * <li>{@code query-status}: the VM ({@code status} running / paused / migrated / ended, guest,
 *     console counters of the test guest)</li>
 * <li>{@code migrate} {@code {"to": "HOST:PORT", "detector", "samples", "max-bandwidth",
 *     "downtime-limit", "max-rounds", "connect-timeout", "ack-timeout", "tls-dir"}}: starts a live
 *     migration ({@link MigrateRequest}) and returns at once</li>
 * <li>{@code query-migrate}: its status with the JSON report's fields ({@link MigrationJob#query})</li>
 * <li>{@code migrate-cancel}: stops it; the guest keeps running here, intact</li>
 * <li>{@code dump-guest-memory} {@code {"path": "/abs/file.elf"}}: pauses the guest, writes its
 *     memory as an ELF core ({@link ElfCoreWriter}, what {@code d3vm analyze} reads), resumes it</li>
 * <li>{@code cont}: resumes a guest held paused after an unconfirmed hand-over (the source committed
 *     but the destination's GO may be lost): the operator's decision, on whichever side should run it</li>
 * <li>{@code quit}: ends the guest (as a power-off)</li>
 * <li>{@code query-commands}</li>
 * </ul>
 * {@code run --api-socket} and {@code receive --api-socket} start one per guest; {@link ApiClient}
 * is the matching client. The socket file is created with mode 0600 and removed on {@link #close}.
 */
public final class ApiServer implements AutoCloseable {
    public static final List<String> COMMANDS = List.of("query-status", "migrate", "query-migrate", "migrate-cancel",
            "dump-guest-memory", "cont", "quit", "query-commands");
    /** How long {@link #close} waits for connected clients to read their last answer and leave. */
    static final Duration LINGER = Duration.ofSeconds(2);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final ControlledGuest guest;
    private final JsonLinesServer lines;
    private volatile MigrationJob job;
    private boolean closed;

    /**
     * Set when the guest is held paused after an unconfirmed hand-over on the destination side
     * ({@link #start(Path, ControlledGuest, String)}); cleared by {@code cont}.
     */
    private volatile String held;
    /** The operator resumed this side's guest after its own migration ended unconfirmed. */
    private volatile boolean operatorResumed;

    private ApiServer(Path socket, ControlledGuest guest, String held) throws IOException {
        this.guest = guest;
        this.held = held;
        this.lines = JsonLinesServer.listen(socket, ApiServer::greeting, this::handle);
    }

    private static ObjectNode greeting() {
        ObjectNode hello = JSON.createObjectNode();
        ObjectNode v = hello.putObject("d3vm");
        v.put("version", "0.1.0");
        v.set("commands", JSON.valueToTree(COMMANDS));
        return hello;
    }

    /**
     * Listens on {@code socket}. A stale socket file left by a dead process is replaced; one that a
     * live process answers on, or a file that is not a socket, is an error.
     */
    public static ApiServer start(Path socket, ControlledGuest guest) throws IOException {
        return start(socket, guest, null);
    }

    /**
     * Serves a guest that {@code receive} holds paused after an unconfirmed hand-over:
     * {@code query-status} says {@code paused} with {@code held} = {@code why}, {@code migrate}
     * is refused, and only {@code cont} (run it here) or {@code quit} (discard it) decide.
     */
    public static ApiServer start(Path socket, ControlledGuest guest, String why) throws IOException {
        return new ApiServer(socket, guest, why);
    }

    public Path path() {
        return lines.path();
    }

    /** The migration started last through this API, or null. */
    public MigrationJob job() {
        return job;
    }

    /**
     * Where the guest went: waits up to {@code wait} for a running migration to end, then returns
     * its target if it completed, else null. {@code run} and {@code receive} ask when their VM ended.
     */
    public String migratedTo(Duration wait) throws InterruptedException {
        MigrationJob j = job;
        if (j == null) {
            return null;
        }
        j.awaitEnd(wait);
        return j.completed() ? j.request().target() : null;
    }

    /**
     * True while the guest is held paused after an unconfirmed hand-over (either side) and no
     * {@code cont} has resumed it: nothing but the operator may run it.
     */
    public boolean holdingPaused() {
        MigrationJob j = job;
        return held != null || (j != null && j.status() == MigrationStatus.UNCONFIRMED && !operatorResumed);
    }

    private String heldReason() {
        String h = held;
        if (h != null) {
            return h;
        }
        MigrationJob j = job;
        return j == null ? null : "the hand-over to " + j.request().target() + " is unconfirmed: this side committed, so the guest"
                + " runs there if the destination got GO; `cont` only if it does not run there";
    }

    /** Answers one request line (never throws: every problem becomes an error answer). */
    ObjectNode handle(String line) {
        JsonNode req;
        try {
            req = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            return error(null, "GenericError", "not JSON: " + e.getOriginalMessage()
                    + " (send one object per line, e.g. {\"execute\": \"query-status\"})");
        }
        JsonNode id = req != null && req.isObject() ? req.get("id") : null;
        try {
            if (req == null || !req.isObject()) {
                throw ApiException.invalid("a request is a JSON object such as {\"execute\": \"query-status\"}");
            }
            for (var it = req.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (!k.equals("execute") && !k.equals("arguments") && !k.equals("id")) {
                    throw ApiException.invalid("unknown request member '" + k + "' (a request has execute, arguments, id)");
                }
            }
            JsonNode exec = req.get("execute");
            if (exec == null || !exec.isTextual()) {
                throw ApiException.invalid("'execute' must name a command: " + String.join(", ", COMMANDS));
            }
            JsonNode args = req.get("arguments");
            if (args != null && !args.isNull() && !args.isObject()) {
                throw ApiException.invalid("'arguments' must be a JSON object");
            }
            String cmd = exec.asText();
            if (!cmd.equals("migrate") && !cmd.equals("dump-guest-memory") && args != null && !args.isNull() && !args.isEmpty()) {
                throw ApiException.invalid(cmd + " takes no arguments");
            }
            ObjectNode ret = switch (cmd) {
                case "query-status" -> queryStatus();
                case "migrate" -> migrate(args);
                case "query-migrate" -> queryMigrate();
                case "migrate-cancel" -> cancel();
                case "dump-guest-memory" -> dumpGuestMemory(args);
                case "cont" -> cont();
                case "quit" -> quit();
                case "query-commands" -> {
                    ObjectNode o = JSON.createObjectNode();
                    o.set("commands", JSON.valueToTree(COMMANDS));
                    yield o;
                }
                default -> throw new ApiException("CommandNotFound", "unknown command '" + cmd + "' (commands: "
                        + String.join(", ", COMMANDS) + ")");
            };
            ObjectNode ok = JSON.createObjectNode();
            ok.set("return", ret);
            if (id != null) {
                ok.set("id", id);
            }
            return ok;
        } catch (ApiException e) {
            return error(id, e.errorClass(), e.getMessage());
        } catch (RuntimeException e) {
            return error(id, "GenericError", "internal error: " + e);
        }
    }

    private ObjectNode queryStatus() {
        ObjectNode o = JSON.createObjectNode();
        MigrationJob j = job;
        GuestRunState status;
        if (j != null && j.completed()) {
            status = GuestRunState.MIGRATED;
        } else if (!guest.alive()) {
            status = GuestRunState.ENDED;
        } else if (j != null && j.isActive() && j.phase().guestPaused()) {
            status = GuestRunState.PAUSED;
        } else if (holdingPaused()) {
            status = GuestRunState.PAUSED; // after an unconfirmed hand-over: only cont or quit decide
        } else {
            status = GuestRunState.RUNNING;
        }
        o.put("status", status.json());
        o.put("running", status == GuestRunState.RUNNING);
        o.put("warming-up", Warmup.pending());
        if (holdingPaused()) {
            o.put("held", heldReason());
        }
        if (status == GuestRunState.MIGRATED) {
            o.put("migrated-to", j.request().target());
            MigrationReport r = j.finalReport();
            if (r != null && Boolean.FALSE.equals(r.auditMatch)) {
                // The paused copy here is kept for the operator (quit drops it): the destination's may be corrupt.
                o.put("audit-match", false);
                o.put("held", r.error);
            }
        }
        guest.describe(o);
        return o;
    }

    private synchronized ObjectNode migrate(JsonNode args) throws ApiException {
        MigrationJob j = job;
        if (j != null && j.isActive()) {
            throw ApiException.invalid("a migration to " + j.request().target() + " is already active; query-migrate follows it, migrate-cancel stops it");
        }
        if (j != null && j.completed()) {
            throw ApiException.invalid("the guest already migrated to " + j.request().target() + "; it no longer runs here");
        }
        if (holdingPaused()) {
            throw ApiException.invalid("the guest is held paused after an unconfirmed hand-over (" + heldReason()
                    + "); `cont` runs it here, `quit` discards it");
        }
        if (!guest.alive()) {
            throw ApiException.invalid("the guest has ended; there is nothing to migrate");
        }
        MigrateRequest r = MigrateRequest.parse(args);
        job = MigrationJob.start(guest.migratable(), r);
        ObjectNode o = JSON.createObjectNode();
        o.put("status", MigrationStatus.ACTIVE.json());
        o.put("options", r.summary());
        return o;
    }

    private ObjectNode queryMigrate() {
        MigrationJob j = job;
        if (j == null) {
            ObjectNode o = JSON.createObjectNode();
            o.put("status", MigrationStatus.NONE.json());
            return o;
        }
        return j.query();
    }

    private ObjectNode cancel() throws ApiException {
        MigrationJob j = job;
        if (j == null || !j.isActive()) {
            throw ApiException.invalid("no migration is active" + (j == null ? "" : " (the last one " + j.status().json() + ")"));
        }
        if (!j.cancel()) {
            throw ApiException.invalid("too late to cancel: the source sent its final state (phase " + j.phase()
                    + "); the migration completes or fails on its own");
        }
        try {
            j.awaitEnd(Duration.ofSeconds(30));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        ObjectNode o = JSON.createObjectNode();
        o.put("status", j.status().json());
        o.put("guest-running-here", guest.alive());
        return o;
    }

    /**
     * {@code dump-guest-memory}: the guest's memory as an ELF core. The guest is paused while the
     * file is written, so the image is one moment of it (as QEMU's command of that name does).
     */
    private ObjectNode dumpGuestMemory(JsonNode args) throws ApiException {
        JsonNode p = args == null ? null : args.get("path");
        if (args != null) {
            for (var it = args.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (!k.equals("path")) {
                    throw ApiException.invalid("dump-guest-memory takes only 'path', not '" + k + "'");
                }
            }
        }
        if (p == null || !p.isTextual() || p.asText().isBlank()) {
            throw ApiException.invalid("dump-guest-memory needs {\"path\": \"/absolute/file.elf\"}");
        }
        Path file;
        try {
            file = Path.of(p.asText());
        } catch (java.nio.file.InvalidPathException e) {
            throw ApiException.invalid("'path' is not a valid path: " + e.getMessage());
        }
        if (!file.isAbsolute()) {
            throw ApiException.invalid("'path' must be absolute (the VMM's working directory is not the client's): " + file);
        }
        long start = System.nanoTime();
        ElfCoreWriter.Result r = dumpGuestMemory(file);
        ObjectNode o = JSON.createObjectNode();
        o.put("path", r.path().toString());
        o.put("format", "elf");
        o.put("file-bytes", r.fileBytes());
        o.put("pages", r.pages());
        o.put("pages-written", r.pagesWritten());
        o.put("paused-ms", Math.round((System.nanoTime() - start) / 1e5) / 10.0);
        return o;
    }

    /**
     * Pauses the guest, writes its memory to {@code file} as an ELF core and resumes it; refused
     * while a migration runs (it pauses and resumes the guest itself). The API's
     * {@code dump-guest-memory} and {@code run --dump-memory --dump-after} call this.
     */
    public synchronized ElfCoreWriter.Result dumpGuestMemory(Path file) throws ApiException {
        MigrationJob j = job;
        if (j != null && j.isActive()) {
            throw ApiException.invalid("a migration is active; dump the memory before or after it");
        }
        if (!guest.alive()) {
            throw ApiException.invalid("the guest has ended; there is no memory to dump"
                    + (j != null && j.completed() ? " (it migrated to " + j.request().target() + ")" : ""));
        }
        Migratable m = guest.migratable();
        boolean alreadyPaused = holdingPaused(); // and only cont may resume it
        if (!alreadyPaused) {
            m.pause();
        }
        try {
            return ElfCoreWriter.write(m.memory(), file);
        } catch (IOException e) {
            throw new ApiException("GenericError", "could not write " + file + ": " + e);
        } finally {
            if (!alreadyPaused) {
                m.resume();
            }
        }
    }

    /** {@code cont}: the operator runs a guest held paused after an unconfirmed hand-over here. */
    private synchronized ObjectNode cont() throws ApiException {
        if (!guest.alive()) {
            throw ApiException.invalid("the guest has ended; there is nothing to resume");
        }
        if (!holdingPaused()) {
            MigrationJob j = job;
            throw ApiException.invalid("cont resumes a guest held paused after an unconfirmed hand-over; this one is not held"
                    + (j != null && j.isActive() ? " (a migration is active: migrate-cancel stops it)" : ""));
        }
        guest.migratable().resume();
        held = null;
        operatorResumed = true;
        ObjectNode o = JSON.createObjectNode();
        o.put("status", GuestRunState.RUNNING.json());
        return o;
    }

    private synchronized ObjectNode quit() throws ApiException {
        MigrationJob j = job;
        if (j != null && j.isActive()) {
            throw ApiException.invalid("a migration is active; migrate-cancel it first");
        }
        if (!guest.alive()) {
            throw ApiException.invalid("the guest has already ended" + (j != null && j.completed() ? " (it migrated to " + j.request().target() + ")" : ""));
        }
        guest.quit();
        ObjectNode o = JSON.createObjectNode();
        o.put("status", GuestRunState.ENDED.json());
        return o;
    }

    /**
     * Stops serving: no new clients, connected ones are dropped, an active migration is cancelled
     * (or, past its point of no return, waited for), and the socket file is removed.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        lines.stopAccepting();
        MigrationJob j = job;
        if (j != null && j.isActive()) {
            j.cancel();
            try {
                j.awaitEnd(Duration.ofSeconds(130));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        lines.close(LINGER);
    }

    private static ObjectNode error(JsonNode id, String cls, String desc) {
        return JsonLinesServer.error(id, cls, desc);
    }
}
