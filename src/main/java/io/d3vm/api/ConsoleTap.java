package io.d3vm.api;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Passes a guest's serial console through unchanged and remembers what the test guest last said
 * about itself: its tick counter, completed verify passes and mismatches (guest/README.md, "Output
 * lines"). The control API's {@code query-status} reports these; {@code run} and {@code receive}
 * put it between the serial port and stdout.
 */
public final class ConsoleTap extends OutputStream {
    private static final int MAX_LINE = 512;
    static final int MAX_HELD = 1 << 20;
    private static final Pattern TICK = Pattern.compile("^d3guest: tick=(\\d+) ");
    private static final Pattern PASS = Pattern.compile("^d3guest: verify pass=(\\d+) ok$");

    private final OutputStream out;
    private final byte[] line = new byte[MAX_LINE];
    private int length;
    private volatile long tick = -1;
    private volatile long verifyPasses;
    private volatile long mismatchLines;
    private volatile long lines;
    private volatile String lastLine = "";
    private java.io.ByteArrayOutputStream held;

    public ConsoleTap(OutputStream out) {
        this.out = out;
    }

    @Override
    public synchronized void write(int b) throws IOException {
        if (held != null && held.size() < MAX_HELD) {
            held.write(b);
        } else {
            out.write(b);
        }
        if (b == '\n') {
            lineDone();
        } else if (length < MAX_LINE) {
            line[length++] = (byte) b;
        }
    }

    @Override
    public synchronized void write(byte[] b, int off, int len) throws IOException {
        for (int i = 0; i < len; i++) {
            write(b[off + i]);
        }
    }

    @Override
    public synchronized void flush() throws IOException {
        if (held == null) {
            out.flush();
        }
    }

    /**
     * Holds the output back (up to {@value #MAX_HELD} bytes, then it passes anyway) until
     * {@link #release}: {@code receive} prints its migration summary first, so the guest's first
     * lines on the destination are not cut into by it.
     */
    public synchronized void hold() {
        if (held == null) {
            held = new java.io.ByteArrayOutputStream();
        }
    }

    /** Writes what was held and lets output through again. */
    public synchronized void release() throws IOException {
        if (held != null) {
            java.io.ByteArrayOutputStream h = held;
            held = null;
            h.writeTo(out);
            out.flush();
        }
    }

    private void lineDone() {
        String s = new String(line, 0, length, StandardCharsets.US_ASCII);
        if (s.endsWith("\r")) {
            s = s.substring(0, s.length() - 1);
        }
        length = 0;
        lines++;
        lastLine = s;
        Matcher m = TICK.matcher(s);
        if (m.find()) {
            tick = parse(m.group(1));
            return;
        }
        m = PASS.matcher(s);
        if (m.find()) {
            verifyPasses = parse(m.group(1));
        } else if (s.startsWith("d3guest: verify MISMATCH")) {
            mismatchLines++;
        }
    }

    private static long parse(String digits) {
        try {
            return Long.parseLong(digits);
        } catch (NumberFormatException e) {
            return -1; // more digits than a long: not a counter this guest prints
        }
    }

    /** The last {@code tick=} the guest printed here, or -1. */
    public long tick() {
        return tick;
    }

    /** The number of the last verify pass reported ok here (0 if none). */
    public long verifyPasses() {
        return verifyPasses;
    }

    /** {@code verify MISMATCH} lines seen here. */
    public long mismatchLines() {
        return mismatchLines;
    }

    /** Complete lines seen here. */
    public long lines() {
        return lines;
    }

    public String lastLine() {
        return lastLine;
    }
}
