package io.d3vm.api;

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
 * and captured, so tests can wait for console lines. Always {@link #close}d: it kills the process.
 */
final class D3vmProcess implements AutoCloseable {
    private final Process process;
    private final StringBuilder text = new StringBuilder();
    private final String name;

    private D3vmProcess(String name, Process process) {
        this.name = name;
        this.process = process;
        Thread.ofPlatform().daemon().name("pump-" + name).start(this::pump);
    }

    static D3vmProcess start(String name, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector", "-XX:+UseSerialGC", "-Xshare:auto",
                "-cp", System.getProperty("java.class.path"), "io.d3vm.cli.Main"));
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
        }
    }

    synchronized String text() {
        return text.toString();
    }

    /** Waits for a complete line matching {@code regex} starting at or after character {@code from}. */
    synchronized Matcher await(String regex, int from, Duration timeout) throws InterruptedException {
        Pattern p = Pattern.compile("(?m)^" + regex + "$");
        long deadline = System.nanoTime() + timeout.toNanos();
        int deadChecks = 0;
        while (true) {
            String t = text.toString();
            int end = t.lastIndexOf('\n') + 1;
            if (from <= end) {
                Matcher m = p.matcher(t.substring(0, end));
                if (m.find(from)) {
                    return m;
                }
            }
            long left = deadline - System.nanoTime();
            if (!process.isAlive()) {
                deadChecks++; // let the pump deliver the last bytes first
            }
            if (left <= 0 || deadChecks > 5) {
                throw new AssertionError(name + ": no line matching /" + regex + "/ within " + timeout + " (alive: "
                        + process.isAlive() + "); output:\n" + tail(t));
            }
            wait(Math.max(1, Math.min(100, left / 1_000_000)));
        }
    }

    Matcher await(String regex, Duration timeout) throws InterruptedException {
        return await(regex, 0, timeout);
    }

    /** Waits for the exit code. */
    int waitFor(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
            throw new AssertionError(name + " still running after " + timeout + "; output:\n" + tail(text()));
        }
        Thread.sleep(50); // the pump's last read
        return process.exitValue();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    void kill() throws InterruptedException {
        process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            kill();
        }
    }

    static String tail(String t) {
        return t.length() > 5000 ? "..." + t.substring(t.length() - 5000) : t;
    }

    /** The last complete {@code d3guest: tick=N} in {@code t}, or -1. */
    static long lastTick(String t) {
        Matcher m = Pattern.compile("(?m)^d3guest: tick=(\\d+) .*\\n").matcher(t);
        long last = -1;
        while (m.find()) {
            last = Long.parseLong(m.group(1));
        }
        return last;
    }

    /** The first complete {@code d3guest: tick=N} at or after {@code from}, or -1. */
    static long firstTick(String t, int from) {
        Matcher m = Pattern.compile("(?m)^d3guest: tick=(\\d+) .*\\n").matcher(t);
        return m.find(from) ? Long.parseLong(m.group(1)) : -1;
    }
}
