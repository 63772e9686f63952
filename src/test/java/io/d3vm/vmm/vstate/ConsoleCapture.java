package io.d3vm.vmm.vstate;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A serial console sink for tests: collects output and waits for a line matching a pattern. */
public final class ConsoleCapture extends OutputStream {
    private final ByteArrayOutputStream buf = new ByteArrayOutputStream();

    @Override
    public synchronized void write(int b) {
        buf.write(b);
        if (b == '\n') {
            notifyAll();
        }
    }

    public synchronized String text() {
        return buf.toString(StandardCharsets.US_ASCII);
    }

    /**
     * Waits until a complete line at or after character {@code from} matches {@code regex}; returns
     * the match (groups available) or throws with the output so far.
     */
    public synchronized Matcher await(String regex, int from, Duration timeout) throws InterruptedException {
        Pattern p = Pattern.compile("(?m)^" + regex + "$");
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            String t = text();
            int end = t.lastIndexOf('\n') + 1;
            Matcher m = p.matcher(t.substring(0, Math.max(end, from)));
            if (m.find(Math.min(from, Math.max(end, from)))) {
                return m;
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new AssertionError("no console line matching /" + regex + "/ within " + timeout
                        + "; output was:\n" + tail(t));
            }
            wait(Math.max(1, left / 1_000_000));
        }
    }

    public Matcher await(String regex, Duration timeout) throws InterruptedException {
        return await(regex, 0, timeout);
    }

    private static String tail(String t) {
        return t.length() > 4000 ? "..." + t.substring(t.length() - 4000) : t;
    }
}
