package io.d3vm.testing;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@code d3vm} command in its own JVM (this test run's classpath), its stdout and stderr merged
 * and captured as they come, so tests can wait for what it says. Always {@link #close}d: that
 * kills the process. The one process helper of the test suite (the launcher's own tests run
 * {@code ./d3vm} itself instead: {@code io.d3vm.cli.LauncherIT}).
 */
public final class D3vmProcess implements AutoCloseable {
    private static final Pattern LISTENING = Pattern.compile("listening on [^ ]+:(\\d+) .*");
    private static final Pattern TICK = Pattern.compile("(?m)^d3guest: tick=(\\d+) .*\\n");

    private final String name;
    private final Process process;
    private final StringBuilder text = new StringBuilder();
    private final Thread pump;

    private D3vmProcess(String name, Process process) {
        this.name = name;
        this.process = process;
        // Drained continuously, so the child never blocks on a full pipe.
        this.pump = Thread.ofPlatform().daemon().name("pump-" + name).start(this::pump);
    }

    /** {@code d3vm ARGS} with the JIT as the launcher runs it; named after its command ({@code args[0]}). */
    public static D3vmProcess start(String... args) throws IOException {
        return startNamed(args[0], args);
    }

    /** As {@link #start}, named {@code name} in failure messages (several processes of one command). */
    public static D3vmProcess startNamed(String name, String... args) throws IOException {
        return launch(name, List.of("-XX:+UseSerialGC", "-Xshare:auto"), args);
    }

    /**
     * With C1 only and a 1 GiB heap: starts and settles sooner, for tests whose outcome does not
     * depend on the migration's speed (fault injection, limits), which start many processes.
     */
    public static D3vmProcess startC1(String... args) throws IOException {
        return launch(args[0], List.of("-Xmx1g", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"), args);
    }

    private static D3vmProcess launch(String name, List<String> jvm, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector"));
        cmd.addAll(jvm);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "io.d3vm.cli.Main"));
        cmd.addAll(List.of(args));
        return new D3vmProcess(name, new ProcessBuilder(cmd).redirectErrorStream(true).start());
    }

    private void pump() {
        byte[] buf = new byte[8192];
        try (InputStream in = process.getInputStream()) {
            int n;
            while ((n = in.read(buf)) > 0) {
                synchronized (this) {
                    text.append(new String(buf, 0, n, StandardCharsets.ISO_8859_1));
                    notifyAll();
                }
            }
        } catch (IOException e) {
            // the process ended
        } finally {
            synchronized (this) {
                notifyAll();
            }
        }
    }

    /** Everything it printed so far. */
    public synchronized String text() {
        return text.toString();
    }

    /**
     * Waits for a complete line that matches {@code regex} as a whole, starting at or after
     * character {@code from} of {@link #text}; fails with the output when the deadline passes or the
     * process ended without printing it.
     */
    public synchronized Matcher awaitLine(String regex, int from, Duration timeout) throws InterruptedException {
        return await(Pattern.compile("(?m)^" + regex + "$"), from, timeout);
    }

    public Matcher awaitLine(String regex, Duration timeout) throws InterruptedException {
        return awaitLine(regex, 0, timeout);
    }

    /** Waits for a complete line that contains a match of {@code regex}. */
    public synchronized Matcher awaitMatch(String regex, Duration timeout) throws InterruptedException {
        return await(Pattern.compile("(?m)^.*?(?:" + regex + ").*$"), 0, timeout);
    }

    private synchronized Matcher await(Pattern p, int from, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            String t = text.toString();
            int end = t.lastIndexOf('\n') + 1;       // complete lines only
            if (from <= end) {
                Matcher m = p.matcher(t.substring(0, end));
                if (m.find(from)) {
                    return m;
                }
            }
            long left = deadline - System.nanoTime();
            if (left <= 0 || !pump.isAlive()) {      // the pump ends after the process's last byte
                throw new AssertionError(name + ": no line matching /" + p.pattern() + "/ within " + timeout + " (alive: "
                        + process.isAlive() + "); output:\n" + tail(t));
            }
            wait(Math.max(1, Math.min(100, left / 1_000_000)));
        }
    }

    /** The port a {@code receive --listen HOST:0} process chose. */
    public int listeningPort() throws InterruptedException {
        return Integer.parseInt(await(Pattern.compile("(?m)^" + LISTENING.pattern() + "$"), 0, Duration.ofSeconds(60)).group(1));
    }

    /**
     * Connects to the control API this process serves at {@code socket}, polling until it answers
     * (the VM is up); fails with the output when the deadline passes or the process ended.
     */
    public io.d3vm.api.ApiClient connectApi(Path socket, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                return io.d3vm.api.ApiClient.connect(socket);
            } catch (IOException e) {
                if (System.nanoTime() > deadline || !process.isAlive()) {
                    throw new AssertionError(name + ": no API at " + socket + ": " + e.getMessage() + "; output:\n" + tail(text()));
                }
                Thread.sleep(50); // the poll's interval: the socket appears when the process has booted its VM
            }
        }
    }

    /** Waits for the exit code, and for the last of its output; fails with the output if it is still running. */
    public int waitFor(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
            throw new AssertionError(name + " still running after " + timeout + "; output:\n" + tail(text()));
        }
        pump.join(TimeUnit.SECONDS.toMillis(10));
        return process.exitValue();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public long pid() {
        return process.pid();
    }

    /** SIGKILL, then waits for the process to be gone. */
    public void kill() throws InterruptedException {
        process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            kill();
        }
        pump.join(5000);
    }

    /** The last 5000 characters of {@code t}, for failure messages. */
    public static String tail(String t) {
        return t.length() > 5000 ? "..." + t.substring(t.length() - 5000) : t;
    }

    /** The last complete {@code d3guest: tick=N} in {@code t}, or -1. */
    public static long lastTick(String t) {
        Matcher m = TICK.matcher(t);
        long last = -1;
        while (m.find()) {
            last = Long.parseLong(m.group(1));
        }
        return last;
    }

    /** The first complete {@code d3guest: tick=N} at or after character {@code from} of {@code t}, or -1. */
    public static long firstTick(String t, int from) {
        Matcher m = TICK.matcher(t);
        return m.find(from) ? Long.parseLong(m.group(1)) : -1;
    }
}
