package io.d3vm.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A d3vm command the demo runs as a separate process (same JVM binary, class path and native
 * access flags as this one): its output lines are kept, optionally echoed with a prefix, and can
 * be waited for. {@link #stop} ends it (politely, then forcibly).
 */
final class ChildProcess {
    private final String name;
    private final Process process;
    private final List<String> lines = new ArrayList<>();
    private final PrintWriter echo;
    private boolean echoing;
    /** Lines [0, echoed) were echoed (or skipped as already shown): {@link #tail} leaves them out. */
    private int echoed;
    static final String INCUBATOR_WARNING = "WARNING: Using incubator modules";

    private ChildProcess(String name, Process process, PrintWriter echo) {
        this.name = name;
        this.process = process;
        this.echo = echo;
        Thread.ofPlatform().daemon().name("demo-" + name).start(this::pump);
    }

    /** Starts {@code d3vm ARGS} in a new JVM; its stdout and stderr go to this object. */
    static ChildProcess start(String name, PrintWriter echo, List<String> args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("--add-modules");
        cmd.add("jdk.incubator.vector");
        cmd.add("-XX:+UseParallelGC");
        cmd.add("-XX:PerMethodTrapLimit=0"); // as the launcher ./d3vm, which says why
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Main.class.getName());
        cmd.addAll(args);
        return new ChildProcess(name, new ProcessBuilder(cmd).redirectErrorStream(true).start(), echo);
    }

    private void pump() {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                if (line.startsWith(INCUBATOR_WARNING)) {
                    continue; // the JVM's boot-time notice (see io.d3vm.sys.BootStderr), not the child's output
                }
                synchronized (this) {
                    lines.add(line);
                    if (echoing) {
                        print(lines.size() - 1);
                    }
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

    /** Echo the lines from now on (true) or only keep them (false). */
    synchronized void echo(boolean on) {
        echoing = on;
    }

    /** Prints the kept lines from index {@code from} on, then echoes new ones. */
    synchronized void echoFrom(int from) {
        for (int i = Math.max(0, from); i < lines.size(); i++) {
            print(i);
        }
        echoing = true;
    }

    /** Echoes line {@code i} (called holding this object's lock). */
    private void print(int i) {
        echoed = Math.max(echoed, i + 1);
        synchronized (echo) {
            echo.println("  [" + name + "] " + lines.get(i));
            echo.flush();
        }
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    synchronized int lineCount() {
        return lines.size();
    }

    synchronized List<String> lines() {
        return List.copyOf(lines);
    }

    /**
     * Waits for a line at index {@code from} or later that matches {@code regex} (whole line);
     * returns its index and match. Fails with the process's last lines on timeout or exit.
     */
    synchronized Found await(String regex, int from, Duration timeout) throws InterruptedException {
        Pattern p = Pattern.compile(regex);
        long deadline = System.nanoTime() + timeout.toNanos();
        int i = from;
        while (true) {
            for (; i < lines.size(); i++) {
                Matcher m = p.matcher(lines.get(i));
                if (m.matches()) {
                    return new Found(i, m);
                }
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new IllegalStateException("the " + name + " process did not print /" + regex + "/ within " + timeout.toSeconds()
                        + " s; its last lines:\n" + tail());
            }
            if (!process.isAlive()) {
                wait(200); // the pump may still hold the last lines
                if (i == lines.size()) {
                    throw new IllegalStateException("the " + name + " process ended (exit " + process.exitValue() + ") without printing /"
                            + regex + "/; its last lines:\n" + tail());
                }
                continue;
            }
            wait(Math.max(1, Math.min(250, left / 1_000_000)));
        }
    }

    record Found(int index, Matcher match) {}

    /**
     * Its last lines (at most 15) that were not echoed already, for a message about its failure;
     * when everything was echoed, a pointer to them instead of the same lines twice.
     */
    synchronized String tail() {
        int from = Math.max(echoed, lines.size() - 15);
        if (from >= lines.size()) {
            return "    (its output is above)\n";
        }
        StringBuilder b = new StringBuilder();
        for (int i = from; i < lines.size(); i++) {
            b.append("    ").append(lines.get(i)).append('\n');
        }
        return b.toString();
    }

    /** Waits for the exit code; null if it is still running after {@code timeout}. */
    Integer waitFor(Duration timeout) throws InterruptedException {
        return process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS) ? process.exitValue() : null;
    }

    /** Ends the process: SIGTERM, then SIGKILL after a grace period. */
    void stop() {
        if (!process.isAlive()) {
            return;
        }
        process.destroy();
        try {
            if (!process.waitFor(3, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
