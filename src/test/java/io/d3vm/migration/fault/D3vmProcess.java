package io.d3vm.migration.fault;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@code d3vm} CLI in a second JVM (this test run's classpath), with its output collected line by
 * line so tests can wait for what it says. Fault and limit tests kill it, or keep it serving one
 * migration after another.
 */
public final class D3vmProcess implements AutoCloseable {
    private static final Pattern LISTENING = Pattern.compile("listening on [^ ]+:(\\d+) ");
    private final Process process;
    private final List<String> lines = new ArrayList<>();
    private final Thread drain;

    private D3vmProcess(Process process) {
        this.process = process;
        // Drain continuously so the child never blocks on a full pipe.
        this.drain = Thread.ofPlatform().daemon().name("d3vm-output").start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    synchronized (lines) {
                        lines.add(line);
                        lines.notifyAll();
                    }
                }
            } catch (IOException ignored) {
                // the process ended
            }
        });
    }

    /** Starts {@code io.d3vm.cli.Main} with {@code args}, stdout and stderr merged. */
    public static D3vmProcess start(String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector",
                "-Xmx1g", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-cp", System.getProperty("java.class.path"), "io.d3vm.cli.Main"));
        cmd.addAll(List.of(args));
        return new D3vmProcess(new ProcessBuilder(cmd).redirectErrorStream(true).start());
    }

    /** Waits for a line matching {@code regex} (from the start of the output) and returns its match. */
    public Matcher await(String regex, long timeoutMillis) throws InterruptedException {
        Pattern p = Pattern.compile(regex);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        int seen = 0;
        synchronized (lines) {
            while (true) {
                for (; seen < lines.size(); seen++) {
                    Matcher m = p.matcher(lines.get(seen));
                    if (m.find()) {
                        return m;
                    }
                }
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0 || (!process.isAlive() && !drain.isAlive())) {
                    throw new AssertionError("no line matching /" + regex + "/ from d3vm; it said:\n" + output());
                }
                lines.wait(Math.min(left, 100));
            }
        }
    }

    /** The port a {@code receive --listen HOST:0} process chose. */
    public int listeningPort() throws InterruptedException {
        return Integer.parseInt(await(LISTENING.pattern(), 60_000).group(1));
    }

    public long count(String regex) {
        Pattern p = Pattern.compile(regex);
        synchronized (lines) {
            return lines.stream().filter(l -> p.matcher(l).find()).count();
        }
    }

    public String output() {
        synchronized (lines) {
            return String.join("\n", lines);
        }
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public long pid() {
        return process.pid();
    }

    /** SIGKILL, then waits for the process to be gone. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    /** Exit code, waiting at most {@code timeoutMillis}; -1 if still running. */
    public int exitCode(long timeoutMillis) throws InterruptedException {
        return process.waitFor(timeoutMillis, TimeUnit.MILLISECONDS) ? process.exitValue() : -1;
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            kill();
        }
        drain.join(5000);
    }
}
