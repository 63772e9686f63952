package io.d3vm.migration.send;

/**
 * The link's rate as the writer sees it: bytes per second of time spent handing bytes to the
 * connection (socket writes and the rate limiter's waits), over the last {@link #WINDOW} large
 * writes. The first writes fill the socket's buffers and look fast: the first {@link #SKIP} are
 * left out, and a window of recent ones follows the link once it pushes back. Written by the writer thread, read by the classifying thread.
 */
final class LinkMeter {
    static final int WINDOW = 8;
    /** Writes smaller than this say more about a wake-up than about the link. */
    static final int MIN_SAMPLE = 256 << 10;

    /** Large writes left out at the start: the kernel's socket buffers (megabytes) take them whole. */
    static final int SKIP = 2;
    private int skipped;
    private final long[] bytes = new long[WINDOW];
    private final long[] nanos = new long[WINDOW];
    private int next;
    private int samples;
    private volatile double rate = Double.NaN;

    /** One write of {@code n} bytes that took {@code ns} nanoseconds. */
    void wrote(long n, long ns) {
        if (n < MIN_SAMPLE) {
            return;
        }
        if (skipped < SKIP) {
            skipped++; // went into the socket's buffers at memory speed: says nothing about the link
            return;
        }
        bytes[next] = n;
        nanos[next] = Math.max(1, ns);
        next = (next + 1) % WINDOW;
        samples = Math.min(WINDOW, samples + 1);
        if (samples >= 2) {
            long b = 0;
            long t = 0;
            for (int i = 0; i < samples; i++) {
                b += bytes[i];
                t += nanos[i];
            }
            rate = b * 1e9 / t;
        }
    }

    /** Bytes per second, or NaN before two large writes were seen. */
    double rate() {
        return rate;
    }
}
