package io.d3vm.migration.recv;

import io.d3vm.memory.DirtyBitmap;
import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.IncrementalDigest;
import io.d3vm.memory.MemoryDigest;
import io.d3vm.memory.MemoryRegion;
import io.d3vm.migration.report.PostcopyRecord;
import io.d3vm.migration.transport.Connection;
import io.d3vm.migration.wire.FrameBuffer;
import io.d3vm.migration.wire.FrameDecoder;
import io.d3vm.migration.wire.PageBatch;
import io.d3vm.migration.wire.ProtocolException;
import io.d3vm.migration.wire.Wire;
import io.d3vm.sys.LibC;
import io.d3vm.sys.Userfaultfd;
import org.HdrHistogram.Histogram;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The destination's half of post-copy: the guest runs while the pages POSTCOPY named are still on
 * their way, and a guest access to one of them waits until it is here.
 *
 * <p>{@link #prepare}: the named pages hold stale content from an earlier round; they are discarded
 * ({@code MADV_DONTNEED}) and every guest region is registered with a {@link Userfaultfd}, so an
 * access to a page that is not in memory stops the accessing thread (a vCPU inside {@code KVM_RUN},
 * a synthetic guest's writer) and is reported here. The fault server thread then decides:
 * <ul>
 * <li>a page still {@code missing} is a <em>remote</em> fault: one REQUEST to the source (once per
 *     page), and the access waits until the page arrives, stream or answer alike;</li>
 * <li>any other page not in memory never received content (D3 sent it as ZERO or UNPOPULATED, or
 *     never at all): it is zero, and is zero-filled here with no message — a <em>local</em> fault.</li>
 * </ul>
 *
 * <p>{@link #install} puts a PAGES batch in place with {@code UFFDIO_COPY} / {@code UFFDIO_ZEROPAGE}
 * (never a plain store: that would fault on the very page it fills), then clears its
 * {@code missing} bits — in that order, so the fault server never zero-fills a page whose content is
 * still to come. Every page must be missing when it arrives: the source sends each exactly once.
 *
 * <p>Threads: the receiver's thread installs and finally {@link #close}s; the fault server only
 * reads {@code missing} and writes REQUEST frames (the receiver writes nothing on the connection
 * between GO and the end of post-copy).
 */
final class PostcopyDestination implements AutoCloseable {
    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int MAX_FAULTS = 64;

    private final GuestMemory memory;
    private final Userfaultfd uffd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment staging = arena.allocate((long) Wire.MAX_BATCH_PAGES * Wire.PAGE_SIZE, Wire.PAGE_SIZE);
    /** Faulted pages REQUESTed and not yet here, with the fault's time. */
    private final ConcurrentHashMap<Long, Long> waiting = new ConcurrentHashMap<>();
    /** Fault to page-in-place, microseconds; recorded by the receiver's thread only. */
    private final Histogram latency = new Histogram(3_600_000_000L, 3);
    private DirtyBitmap missing;
    private Connection connection;
    private Thread server;
    private volatile boolean stopping;
    private volatile Throwable serverFailure;
    private volatile long faultsRemote;
    private volatile long faultsLocal;
    private long pages;
    private long startNanos;
    private long endNanos;

    private PostcopyDestination(GuestMemory memory, Userfaultfd uffd) {
        this.memory = memory;
        this.uffd = uffd;
    }

    /**
     * Opens the userfaultfd a post-copy will need, at setup, so that a destination that cannot
     * serve faults refuses before anything is sent. Throws {@link io.d3vm.sys.SysException} saying why.
     */
    static PostcopyDestination open(GuestMemory memory) {
        return new PostcopyDestination(memory, Userfaultfd.open());
    }

    /**
     * POSTCOPY: the {@code stale} pages are discarded, so that once guest memory is registered (at the
     * first call) a page not in memory is fetched or zero-filled on access; {@code received} (the
     * pages that hold received content) loses them. Called first while the source still runs, with
     * the pages its last round dirtied — discarding is the costly part, about 1 ms per 4 MiB, and
     * this keeps most of it out of the pause — then in the pause with the final set, which must
     * contain every page named before (a page discarded here and then not sent would read as zeros).
     */
    void name(DirtyBitmap stale, DirtyBitmap received) throws ProtocolException {
        DirtyBitmap before = missing;
        for (MemoryRegion region : memory.regions()) {
            long end = region.endPageIndex();
            if (before != null) {
                for (long p = before.nextSet(region.firstPageIndex(), end); p >= 0; p = p + 1 < end ? before.nextSet(p + 1, end) : -1) {
                    if (!stale.get(p)) {
                        throw new ProtocolException("POSTCOPY no longer names page " + p + ", named (and discarded here) before");
                    }
                }
            }
            for (long p = stale.nextSet(region.firstPageIndex(), end); p >= 0; ) {
                if (before != null && before.get(p)) {
                    p = p + 1 < end ? stale.nextSet(p + 1, end) : -1;
                    continue;
                }
                long q = p + 1;
                while (q < end && stale.get(q) && (before == null || !before.get(q))) {
                    q++;
                }
                LibC.madvise(region.host().asSlice((p - region.firstPageIndex()) << Wire.PAGE_SHIFT, (q - p) << Wire.PAGE_SHIFT),
                        LibC.MADV_DONTNEED);
                for (long i = p; i < q; i++) {
                    received.clear(i);
                }
                p = q < end ? stale.nextSet(q, end) : -1;
            }
            if (before == null) {
                uffd.register(region.host());
            }
        }
        missing = stale;
    }

    /**
     * At GO (and again when a broken post-copy resumes): the guest runs from now; faults are served,
     * REQUESTs go out on {@code connection} — first those of accesses still waiting from before.
     */
    void start(Connection connection) {
        this.connection = connection;
        connection.preferLatency(); // a faulted page arrives behind whatever the socket holds before it
        if (startNanos == 0) {
            startNanos = System.nanoTime();
        }
        stopping = false;
        serverFailure = null;
        server = Thread.ofPlatform().daemon().name("postcopy-faults").start(this::serveFaults);
    }

    /** The pages named and not yet here (what a resuming source is asked for). */
    DirtyBitmap missing() {
        return missing;
    }

    private void serveFaults() {
        long[] addresses = new long[MAX_FAULTS];
        FrameBuffer requests = new FrameBuffer(FrameBuffer.MIN_CAPACITY);
        try {
            for (Long page : waiting.keySet()) {
                requests.request(page);
                if (!requests.fitsBatch()) {
                    requests.writeTo(connection.output());
                    requests.clear();
                }
            }
            while (!stopping) {
                int n = uffd.awaitFaults(addresses, 250);
                for (int i = 0; i < n; i++) {
                    long page = pageAt(addresses[i]);
                    if (missing.get(page)) {
                        if (waiting.putIfAbsent(page, System.nanoTime()) == null) {
                            faultsRemote++;
                            requests.request(page);
                        }
                    } else if (uffd.zeroPage(memory.page(page))) {
                        faultsLocal++;
                    }
                }
                if (!requests.isEmpty()) {
                    requests.writeTo(connection.output());
                    requests.clear();
                }
            }
        } catch (IOException | RuntimeException e) {
            serverFailure = e; // the receiver's thread reports it; faults wait until the connection's end says what next
        }
    }

    /** The global page index of a faulting host address (every registered range is guest memory). */
    private long pageAt(long address) {
        for (MemoryRegion r : memory.regions()) {
            long base = r.host().address();
            if (address >= base && address < base + r.host().byteSize()) {
                return r.firstPageIndex() + ((address - base) >>> Wire.PAGE_SHIFT);
            }
        }
        throw new IllegalStateException("userfaultfd reported address 0x" + Long.toHexString(address) + " outside guest memory");
    }

    /**
     * Puts the batch {@code in} just described in place. Each of its pages must be missing; the
     * incremental digest, when kept, folds each page as delivered, so at the end it is the digest of
     * the memory at the pause — what the source's COMPLETE carries.
     */
    void install(PageBatch batch, FrameDecoder in, MemoryRegion region, IncrementalDigest rebuilt) throws IOException {
        for (long p = batch.firstPage, end = p + batch.pageCount; p < end; p++) {
            if (!missing.get(p)) {
                throw new ProtocolException("post-copy sent page " + p + ", which was not missing (never named by POSTCOPY, or sent twice)");
            }
        }
        checkServer();
        MemorySegment host = region.host();
        long page = batch.firstPage;
        long off = (page - batch.rangeFirstPage) << Wire.PAGE_SHIFT;
        for (int r = 0; r < batch.runCount; r++) {
            int n = batch.runPages[r];
            long bytes = (long) n << Wire.PAGE_SHIFT;
            MemorySegment target = host.asSlice(off, bytes);
            switch (batch.runClass[r]) {
                case Wire.CLASS_DUPLICATE -> throw new ProtocolException("post-copy sent DUPLICATE references for pages " + page + "..+" + n
                        + " (references end where post-copy begins: their origins may have been discarded here)");
                case Wire.CLASS_NORMAL -> {
                    in.readBody(staging, 0, bytes);
                    if (rebuilt != null) {
                        for (int i = 0; i < n; i++) {
                            rebuilt.page(page + i, MemoryDigest.hashPage(staging, (long) i << Wire.PAGE_SHIFT));
                        }
                    }
                    copy(target, staging.asSlice(0, bytes));
                }
                case Wire.CLASS_UNIFORM -> {
                    long pattern = batch.runPattern[r];
                    for (long o = 0; o < bytes; o += 8) {
                        staging.set(WORD, o, pattern);
                    }
                    if (rebuilt != null) {
                        rebuilt.uniform(page, n, pattern);
                    }
                    copy(target, staging.asSlice(0, bytes));
                }
                default -> { // ZERO, UNPOPULATED
                    if (rebuilt != null) {
                        rebuilt.zero(page, n);
                    }
                    uffd.zeroPage(target);
                }
            }
            long now = System.nanoTime();
            for (int i = 0; i < n; i++) {
                missing.clear(page + i);
                Long faulted = waiting.remove(page + i);
                if (faulted != null) {
                    latency.recordValue(Math.max(1, (now - faulted) / 1000));
                }
            }
            page += n;
            off += bytes;
        }
        pages += batch.pageCount;
    }

    /** UFFDIO_COPY of a run; page by page if some page of it is already there (EEXIST stops a copy at that page). */
    private void copy(MemorySegment target, MemorySegment source) {
        if (!uffd.copy(target, source) && target.byteSize() > Wire.PAGE_SIZE) {
            for (long o = 0; o < target.byteSize(); o += Wire.PAGE_SIZE) {
                uffd.copy(target.asSlice(o, Wire.PAGE_SIZE), source.asSlice(o, Wire.PAGE_SIZE));
            }
        }
    }

    /** A failure of the fault server (a REQUEST that could not be written) is the post-copy's. */
    void checkServer() throws IOException {
        Throwable f = serverFailure;
        if (f instanceof IOException io) {
            throw io;
        }
        if (f != null) {
            throw new IOException("serving the guest's page faults failed: " + f, f);
        }
    }

    /**
     * The connection broke: REQUESTs can go nowhere, so the server stops; the registration stays, so
     * a guest access to a missing page keeps waiting rather than seeing zeros.
     */
    void interrupted() {
        stopServer();
    }

    /** Pages named by POSTCOPY that have not arrived. */
    long missingPages() {
        return missing == null ? 0 : missing.count();
    }

    /** Every page is here: faults stop being reported (the memory is complete), the server ends. */
    void finish() throws IOException {
        endNanos = System.nanoTime();
        stopServer();
        checkServer();
        for (MemoryRegion region : memory.regions()) {
            uffd.unregister(region.host());
        }
    }

    private void stopServer() {
        stopping = true;
        Thread s = server;
        if (s != null) {
            uffd.interrupt();
            try {
                s.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    PostcopyRecord record() {
        long end = endNanos == 0 ? System.nanoTime() : endNanos;
        boolean any = latency.getTotalCount() > 0;
        return new PostcopyRecord(startNanos == 0 ? 0 : (end - startNanos) / 1000, pages, 0, faultsRemote, faultsRemote, faultsLocal,
                any ? latency.getValueAtPercentile(50) : null, any ? latency.getValueAtPercentile(99) : null,
                any ? latency.getMaxValue() : null);
    }

    /**
     * Closes the userfaultfd. Only once every page is in place or the guest is gone: faults still
     * waiting would be zero-filled by the kernel.
     */
    @Override
    public void close() {
        stopServer();
        uffd.close();
        arena.close();
    }
}
