package io.d3vm.testing;

import io.d3vm.api.ApiClient;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.d3vm.migration.report.MigrationStatus;

import java.nio.file.Path;
import java.time.Duration;

/** Test helpers that drive a VM's control API. */
public final class ApiDriver {
    private ApiDriver() {}

    public static ObjectNode args(String to, String detector) {
        ObjectNode a = ApiClient.object();
        a.put("to", to);
        a.put("detector", detector);
        return a;
    }

    /** Starts a migration and polls query-migrate until it is no longer active; returns the last answer. */
    public static JsonNode migrate(Path socket, ObjectNode args, Duration timeout) throws Exception {
        try (ApiClient api = ApiClient.connect(socket)) {
            api.call("migrate", args);
            return awaitEnd(api, timeout);
        }
    }

    /** Polls query-migrate until the migration is no longer active; returns that answer. */
    public static JsonNode awaitEnd(ApiClient api, Duration timeout) throws Exception {
        JsonNode[] q = {null};
        Awaits.untilChecked("the migration to end", timeout, () -> {
            q[0] = api.call("query-migrate");
            return !MigrationStatus.ACTIVE.json().equals(q[0].path("status").asText());
        });
        return q[0];
    }

    /** Polls query-migrate until {@code ram.transferred} reaches {@code bytes} (the migration is under way). */
    public static void awaitTransferred(ApiClient api, long bytes, Duration timeout) throws Exception {
        Awaits.untilChecked(bytes + " bytes transferred", timeout,
                () -> api.call("query-migrate").path("ram").path("transferred").asLong() >= bytes);
    }

    /** Polls query-status until {@code warming-up} is false (the process's warm-up is done; a migration would not wait). */
    public static void awaitWarm(Path socket, Duration timeout) throws Exception {
        try (ApiClient api = ApiClient.connect(socket)) {
            Awaits.untilChecked("the warm-up to end", timeout, () -> {
                JsonNode w = api.call("query-status").path("warming-up");
                if (!w.isBoolean()) {
                    throw new AssertionError("query-status has no boolean warming-up: " + w);
                }
                return !w.asBoolean();
            });
        }
    }

    public static JsonNode call(Path socket, String command) throws Exception {
        try (ApiClient api = ApiClient.connect(socket)) {
            return api.call(command);
        }
    }

    /** Waits until the API socket answers (the VM is up). */
    public static void awaitSocket(Path socket, D3vmProcess owner, Duration timeout) throws Exception {
        owner.connectApi(socket, timeout).close();
    }
}
