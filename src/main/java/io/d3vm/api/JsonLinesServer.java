package io.d3vm.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

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
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The transport under the control API: JSON lines over a Unix domain socket, one thread per
 * client, at most {@link #MAX_CLIENTS} clients, lines of at most {@link #MAX_LINE} bytes. It knows
 * nothing of the commands: each client gets {@code greeting} first, then one answer line per
 * request line from {@code handler} (which never throws). The socket file is created with mode
 * 0600 (whoever can connect can move or end the guest) and removed on {@link #close}.
 */
final class JsonLinesServer {
    /** A request line longer than this is refused and the client disconnected. */
    static final int MAX_LINE = 64 * 1024;
    static final int MAX_CLIENTS = 16;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path path;
    private final ServerSocketChannel server;
    private final Supplier<ObjectNode> greeting;
    private final Function<String, ObjectNode> handler;
    private final Set<SocketChannel> clients = ConcurrentHashMap.newKeySet();
    private final AtomicInteger clientCount = new AtomicInteger();
    private final Thread acceptor;
    private volatile boolean closed;

    private JsonLinesServer(Path path, ServerSocketChannel server, Supplier<ObjectNode> greeting, Function<String, ObjectNode> handler) {
        this.path = path;
        this.server = server;
        this.greeting = greeting;
        this.handler = handler;
        this.acceptor = Thread.ofPlatform().name("api-accept").daemon().start(this::acceptLoop);
    }

    /**
     * Listens on {@code socket}. A stale socket file left by a dead process is replaced; one that a
     * live process answers on, or a file that is not a socket, is an error.
     */
    static JsonLinesServer listen(Path socket, Supplier<ObjectNode> greeting, Function<String, ObjectNode> handler) throws IOException {
        Path abs = socket.toAbsolutePath();
        if (Files.exists(abs, LinkOption.NOFOLLOW_LINKS)) {
            if (!isSocket(abs)) {
                throw new IOException("--api-socket " + socket + " exists and is not a socket; remove it or choose another path");
            }
            boolean answered;
            try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(abs))) {
                answered = true;
            } catch (IOException e) {
                answered = false;
            }
            if (answered) {
                throw new IOException("--api-socket " + socket + " is in use: another process serves its API there");
            }
            Files.deleteIfExists(abs); // nobody answers: left behind by a process that died
        }
        if (abs.getParent() != null && !Files.isDirectory(abs.getParent())) {
            throw new IOException("--api-socket " + socket + ": directory " + abs.getParent() + " does not exist");
        }
        ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            ch.bind(UnixDomainSocketAddress.of(abs));
            Files.setPosixFilePermissions(abs, PosixFilePermissions.fromString("rw-------"));
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw new IOException("cannot serve the API on " + socket + ": " + e.getMessage(), e);
        }
        return new JsonLinesServer(abs, ch, greeting, handler);
    }

    private static boolean isSocket(Path p) throws IOException {
        int mode = (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        return (mode & 0xF000) == 0xC000;
    }

    Path path() {
        return path;
    }

    /** A QMP-style error answer: {@code {"error": {"class", "desc"}, "id"}}. */
    static ObjectNode error(com.fasterxml.jackson.databind.JsonNode id, String cls, String desc) {
        ObjectNode o = JSON.createObjectNode();
        ObjectNode e = o.putObject("error");
        e.put("class", cls);
        e.put("desc", desc);
        if (id != null) {
            o.set("id", id);
        }
        return o;
    }

    private void acceptLoop() {
        while (!closed) {
            SocketChannel c;
            try {
                c = server.accept();
            } catch (IOException e) {
                return; // closed
            }
            if (clientCount.incrementAndGet() > MAX_CLIENTS) {
                clientCount.decrementAndGet();
                reply(c, error(null, "GenericError", "too many API clients (at most " + MAX_CLIENTS + "); close one"));
                closeQuietly(c);
                continue;
            }
            clients.add(c);
            Thread.ofPlatform().name("api-client").daemon().start(() -> serve(c));
        }
    }

    private void serve(SocketChannel c) {
        try (c) {
            if (!reply(c, greeting.get())) {
                return;
            }
            ByteBuffer in = ByteBuffer.allocate(MAX_LINE + 1);
            while (!closed) {
                int n = c.read(in);
                if (n < 0) {
                    return;
                }
                in.flip();
                int start = 0;
                for (int i = 0; i < in.limit(); i++) {
                    if (in.get(i) == '\n') {
                        String line = new String(in.array(), start, i - start, StandardCharsets.UTF_8).strip();
                        start = i + 1;
                        if (!line.isEmpty() && !reply(c, handler.apply(line))) {
                            return;
                        }
                    }
                }
                in.position(start);
                in.compact();
                if (!in.hasRemaining()) {
                    reply(c, error(null, "GenericError", "request line longer than " + MAX_LINE + " bytes; disconnecting"));
                    return;
                }
            }
        } catch (IOException e) {
            // the client went away
        } finally {
            clients.remove(c);
            clientCount.decrementAndGet();
        }
    }

    private static boolean reply(SocketChannel c, ObjectNode o) {
        try {
            ByteBuffer b = ByteBuffer.wrap((JSON.writeValueAsString(o) + "\n").getBytes(StandardCharsets.UTF_8));
            while (b.hasRemaining()) {
                c.write(b);
            }
            return true;
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        } catch (IOException e) {
            return false;
        }
    }

    /** Takes no new clients; connected ones keep being served until {@link #close}. */
    void stopAccepting() {
        closeQuietly(server);
    }

    /**
     * Lets connected clients read their last answers and leave for up to {@code linger} (a client
     * driving a migration disconnects once it has read how it ended), then drops the rest and
     * removes the socket file.
     */
    void close(Duration linger) {
        stopAccepting();
        long until = System.nanoTime() + linger.toNanos();
        while (!clients.isEmpty() && System.nanoTime() < until) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        closed = true;
        for (SocketChannel c : clients) {
            closeQuietly(c);
        }
        try {
            acceptor.join(1000);
            Files.deleteIfExists(path);
        } catch (IOException | InterruptedException e) {
            // best effort: a stale socket file is replaced by the next start
        }
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException | RuntimeException ignored) {
            // closing (ClosedChannelException and friends)
        }
    }
}
