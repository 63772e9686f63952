package io.d3vm.migration.send;

import io.d3vm.migration.wire.FrameBuffer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Hands filled {@link FrameBuffer}s from the classifying thread to a writer thread, so classifying
 * and copying the next batches overlaps with the socket write of the previous ones (the machines
 * have 2 cores). A small ring of large buffers: no allocation while sending. The writer applies the
 * {@link RateLimiter} and counts bytes; a write failure is reported to the producer at its next
 * call.
 */
final class FrameSink implements AutoCloseable {
    static final int BUFFER_SIZE = 4 << 20;
    private static final int BUFFERS = 3;

    private final WritableByteChannel out;
    private final RateLimiter limiter;
    private final PageCompressor compressor;
    private final LinkMeter link;
    private final BlockingQueue<FrameBuffer> free = new ArrayBlockingQueue<>(BUFFERS);
    private final BlockingQueue<FrameBuffer> full = new ArrayBlockingQueue<>(BUFFERS);
    private final Thread writer;
    private final Object lock = new Object();
    private FrameBuffer current;
    private long submitted;
    private long written;
    private volatile long bytesWritten;
    private volatile Throwable failure;
    private volatile boolean closed;

    FrameSink(WritableByteChannel out, RateLimiter limiter) {
        this(out, limiter, new LinkMeter(), null, false);
    }

    /**
     * With {@code compress} (a codec name, or null for none) the writer compresses PAGES data
     * ({@link PageCompressor}); {@code auto} only while that pays on the link as measured, by the
     * writes and by {@code kernel} (the connection's {@link io.d3vm.sys.TcpInfo}, read around each
     * write; null to measure by the writes alone).
     */
    FrameSink(WritableByteChannel out, RateLimiter limiter, String compress, boolean auto,
              Supplier<Optional<io.d3vm.sys.TcpInfo>> kernel) {
        this(out, limiter, new LinkMeter(kernel), compress, auto);
    }

    private FrameSink(WritableByteChannel out, RateLimiter limiter, LinkMeter link, String compress, boolean auto) {
        this.out = out;
        this.limiter = limiter;
        this.link = link;
        this.compressor = compress == null ? null
                : new PageCompressor(io.d3vm.migration.wire.PageCodec.ofName(compress), auto, link, BUFFER_SIZE);
        for (int i = 0; i < BUFFERS; i++) {
            free.add(new FrameBuffer(BUFFER_SIZE));
        }
        writer = Thread.ofPlatform().daemon().name("migration-writer").start(this::writeLoop);
    }

    /**
     * Whether the link, as measured, limits the migration enough that spending the classifying
     * thread's CPU to send fewer bytes pays: its rate is unknown or below {@code slowerThan}, or
     * compressed writes spent at least {@link #REFERENCES_SHARE} of the writer's busy time waiting
     * for the socket while the rate reads below four times {@code slowerThan}. Where the kernel
     * cannot measure the link, the raw writes' rate reads high just after compressed writes, which
     * let the socket drain (280-350 MB/s on a 1 Gbit/s link), hence the waiting share; a rate of
     * GB/s means the writer waits on something other than the link, hence the bound. (Uncapped on
     * loopback, without the bound, references made the idle image take 1.39 s in one smoke run
     * against 0.22-0.28 s for D3 alone in others; loopback now turns {@code auto} off altogether,
     * {@link ByteSavings#onLoopback}.)
     */
    boolean linkLimits(double slowerThan) {
        double l = link.rate();
        return !(l >= slowerThan) || link.judgedShare() >= REFERENCES_SHARE && l < 4 * slowerThan;
    }

    /** The share of its busy time the writer waits for the socket from which the link is taken to limit. */
    static final double REFERENCES_SHARE = 0.25;

    /** What the writer learns of the link. */
    LinkMeter link() {
        return link;
    }

    /** The compressor, or null when the migration does not compress. */
    PageCompressor compressor() {
        return compressor;
    }

    /** Bytes the writer has handed to the connection. */
    long bytesWritten() {
        return bytesWritten;
    }

    /** The buffer to encode into; a fresh one when the current cannot take another full batch. */
    FrameBuffer buffer() throws IOException {
        if (current != null && !current.fitsBatch()) {
            submit();
        }
        if (current == null) {
            current = take();
        }
        return current;
    }

    /** A buffer with at least {@code bytes} free (for a large STATE frame, one made for it). */
    FrameBuffer bufferFor(int bytes) throws IOException {
        FrameBuffer b = buffer();
        if (b.remaining() >= bytes) {
            return b;
        }
        submit();
        if (bytes <= BUFFER_SIZE) {
            return current = take();
        }
        flush();
        return current = new FrameBuffer(bytes);
    }

    /**
     * Waits until everything encoded so far is written. When the writer has nothing queued, the
     * last buffer is written on this thread: in the pause (the final round, STATE, COMPLETE, then
     * GO) a hand-over to the writer and back costs two thread wake-ups each time, and on busy
     * cores a wake-up waits for a CPU.
     */
    void flush() throws IOException {
        if (current != null && !current.isEmpty()) {
            boolean writerIdle;
            synchronized (lock) {
                writerIdle = written == submitted;
            }
            if (writerIdle) {
                // Only this thread submits, so an idle writer stays idle while we write.
                check();
                try {
                    write(current, false);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted while writing the migration stream", e);
                }
                return;
            }
            submit();
        }
        synchronized (lock) {
            while (written < submitted && failure == null) {
                try {
                    lock.wait(50);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted while flushing the migration stream", e);
                }
            }
        }
        check();
    }

    private void submit() throws IOException {
        check();
        FrameBuffer b = current;
        current = null;
        synchronized (lock) {
            submitted++;
        }
        try {
            while (!full.offer(b, 50, TimeUnit.MILLISECONDS)) {
                check();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    private FrameBuffer take() throws IOException {
        try {
            while (true) {
                check();
                FrameBuffer b = free.poll(50, TimeUnit.MILLISECONDS);
                if (b != null) {
                    b.clear();
                    return b;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    private void check() throws IOException {
        Throwable f = failure;
        if (f instanceof IOException io) {
            throw io;
        }
        if (f != null) {
            throw new IOException("writing the migration stream failed: " + f, f);
        }
    }

    private void writeLoop() {
        try {
            while (!closed) {
                FrameBuffer b = full.poll(100, TimeUnit.MILLISECONDS);
                if (b == null) {
                    continue;
                }
                write(b, true);
                if (b.capacity() == BUFFER_SIZE) {
                    free.add(b);
                }
                synchronized (lock) {
                    written++;
                    lock.notifyAll();
                }
            }
        } catch (Throwable t) {
            failure = t;
            synchronized (lock) {
                lock.notifyAll();
            }
        } finally {
            // Freed by the thread that may be inside a compression call; the producer writes itself
            // only while the writer is idle and never after a failure, so nobody uses it after this.
            if (compressor != null) {
                compressor.close();
            }
        }
    }

    /**
     * Writes {@code b}; {@code readKernel}: read the kernel's counters around it for the link's
     * rate (the writer thread). A flush's own write skips them — it ends a round or writes in the
     * pause, where ~9 µs a reading would be downtime and no decision is left to make — and the
     * meter starts its next interval afresh.
     */
    private void write(FrameBuffer b, boolean readKernel) throws IOException, InterruptedException {
        // Counted per write call, so the stall watchdog sees a slow link making progress.
        ByteBuffer view = compressor == null ? b.view() : compressor.process(b.view());
        if (readKernel) {
            link.observe();
        } else {
            link.unobserved();
        }
        long t0 = System.nanoTime();
        long size = view.remaining();
        int chunk = limiter.chunk();
        while (view.hasRemaining()) {
            int n = Math.min(chunk, view.remaining());
            // Limited: pace in small pieces so the link sees a steady rate rather than 4 MiB bursts.
            limiter.acquire(n);
            int lim = view.limit();
            view.limit(view.position() + n);
            while (view.hasRemaining()) {
                bytesWritten += out.write(view);
            }
            view.limit(lim);
        }
        long writeNs = System.nanoTime() - t0;
        if (readKernel) {
            link.observe();
        }
        link.wrote(size, writeNs, compressor == null ? 0 : compressor.compressNanosOfLast());
        b.clear();
    }

    @Override
    public void close() {
        closed = true;
        writer.interrupt();
    }
}
