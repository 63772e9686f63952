package io.d3vm.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A client of {@link ApiServer}: one connection, one request line and one answer line at a time.
 * {@code d3vm migrate --api-socket}, {@code d3vm demo} and the tests use it. Not thread-safe.
 */
public final class ApiClient implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final SocketChannel channel;
    private final Path path;
    private final ByteBuffer in = ByteBuffer.allocate(1 << 16);
    private final ByteArrayOutputStream line = new ByteArrayOutputStream();
    private final JsonNode greeting;

    private ApiClient(Path path, SocketChannel channel) throws IOException {
        this.path = path;
        this.channel = channel;
        in.flip();
        this.greeting = readLine();
        if (greeting == null || !greeting.has("d3vm")) {
            throw new IOException(path + " does not speak the d3vm API (greeting: " + greeting + ")");
        }
    }

    /** Connects to the API at {@code socket}; the error says whether the VM seems to be running. */
    public static ApiClient connect(Path socket) throws IOException {
        SocketChannel ch;
        try {
            ch = SocketChannel.open(UnixDomainSocketAddress.of(socket.toAbsolutePath()));
        } catch (IOException e) {
            throw new IOException("cannot reach the d3vm API at " + socket + " (" + e.getMessage()
                    + "): is `d3vm run ... --api-socket " + socket + "` running?", e);
        }
        try {
            return new ApiClient(socket, ch);
        } catch (IOException e) {
            ch.close();
            throw e;
        }
    }

    /** Runs {@code command}; returns its {@code return} object or throws the server's error. */
    public JsonNode call(String command, ObjectNode arguments) throws IOException, ApiException {
        ObjectNode req = JSON.createObjectNode();
        req.put("execute", command);
        if (arguments != null) {
            req.set("arguments", arguments);
        }
        ByteBuffer out = ByteBuffer.wrap((JSON.writeValueAsString(req) + "\n").getBytes(StandardCharsets.UTF_8));
        while (out.hasRemaining()) {
            channel.write(out);
        }
        JsonNode answer = readLine();
        if (answer == null) {
            throw new IOException("the d3vm API at " + path + " closed the connection (the VM ended?)");
        }
        if (answer.has("error")) {
            JsonNode e = answer.get("error");
            throw new ApiException(e.path("class").asText("GenericError"), e.path("desc").asText(answer.toString()));
        }
        if (!answer.has("return")) {
            throw new IOException("unexpected answer from the d3vm API: " + answer);
        }
        return answer.get("return");
    }

    public JsonNode call(String command) throws IOException, ApiException {
        return call(command, null);
    }

    /** A fresh JSON object, for arguments. */
    public static ObjectNode object() {
        return JSON.createObjectNode();
    }

    private JsonNode readLine() throws IOException {
        line.reset();
        while (true) {
            while (in.hasRemaining()) {
                byte b = in.get();
                if (b == '\n') {
                    return JSON.readTree(line.toByteArray());
                }
                if (line.size() >= JsonLinesServer.MAX_LINE * 64) {
                    throw new IOException("answer from the d3vm API longer than " + line.size() + " bytes");
                }
                line.write(b);
            }
            in.clear();
            int n = channel.read(in);
            in.flip();
            if (n < 0) {
                return null;
            }
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
