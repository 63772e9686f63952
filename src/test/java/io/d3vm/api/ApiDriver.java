package io.d3vm.api;

import io.d3vm.testing.D3vmProcess;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.file.Path;
import java.time.Duration;

/** Test helpers that drive a VM's control API. */
final class ApiDriver {
    private ApiDriver() {}

    static ObjectNode args(String to, String detector) {
        ObjectNode a = ApiClient.object();
        a.put("to", to);
        a.put("detector", detector);
        return a;
    }

    /** Starts a migration and polls query-migrate until it is no longer active; returns the last answer. */
    static JsonNode migrate(Path socket, ObjectNode args, Duration timeout) throws Exception {
        try (ApiClient api = ApiClient.connect(socket)) {
            api.call("migrate", args);
            return awaitEnd(api, timeout);
        }
    }

    static JsonNode awaitEnd(ApiClient api, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        JsonNode q = api.call("query-migrate");
        while ("active".equals(q.path("status").asText())) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("migration still active after " + timeout + ": " + q);
            }
            Thread.sleep(100);
            q = api.call("query-migrate");
        }
        return q;
    }

    static JsonNode call(Path socket, String command) throws Exception {
        try (ApiClient api = ApiClient.connect(socket)) {
            return api.call(command);
        }
    }

    /** Waits until the API socket answers (the VM is up). */
    static void awaitSocket(Path socket, D3vmProcess owner, Duration timeout) throws Exception {
        owner.connectApi(socket, timeout).close();
    }
}
