package io.d3vm.migration.send;

import io.d3vm.memory.DirtyBitmap;
import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.IncrementalDigest;
import io.d3vm.memory.MemoryDigest;
import io.d3vm.memory.MemoryRegion;
import io.d3vm.migration.MigrationException;
import io.d3vm.migration.PauseUrgency;
import io.d3vm.migration.detect.Classification;
import io.d3vm.migration.detect.DetectorStats;
import io.d3vm.migration.detect.PageClass;
import io.d3vm.migration.detect.Detectors;
import io.d3vm.migration.detect.PageClassifier;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.migration.guest.StateSaveThread;
import io.d3vm.migration.report.LinkRecord;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.report.MigrationStatus;
import io.d3vm.migration.report.PauseStep;
import io.d3vm.migration.report.RoundRecord;
import io.d3vm.migration.transport.Connection;
import io.d3vm.migration.transport.StallWatchdog;
import io.d3vm.migration.transport.Transport;
import io.d3vm.migration.wire.AckStage;
import io.d3vm.migration.wire.FrameBuffer;
import io.d3vm.migration.wire.FrameDecoder;
import io.d3vm.migration.wire.FrameType;
import io.d3vm.migration.wire.Messages;
import io.d3vm.migration.wire.ProtocolException;
import io.d3vm.migration.wire.Wire;
import io.d3vm.sys.TcpInfo;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.util.Optional;

/**
 * The source side of a live migration: pre-copy rounds, convergence decision, stop-and-copy, and
 * the hand-over that keeps exactly one copy of the guest alive.
 *
 * <ol>
 * <li>Setup: HANDSHAKE and LAYOUT, then wait for the destination's setup ACK; start dirty logging.</li>
 * <li>Round 1 classifies and sends every page; each later round the pages the dirty log reported
 *     during the previous one. Contiguous dirty pages go as one batch (inside one memory region,
 *     at most {@link PageClassifier#MAX_BATCH}); a classifier ({@code none}, {@code full},
 *     {@code d3}) decides which pages cross as metadata. Classifying and copying happen on this
 *     thread while a writer thread sends the previous buffers ({@link FrameSink}).</li>
 * <li>After each round the {@link ConvergencePolicy} reads a {@link PrecopyContext} and says go on
 *     or stop.</li>
 * <li>Stop-and-copy: pause, a final dirty pass, the guest's state, then the memory digest of the
 *     paused memory (while the destination computes its own), COMPLETE; then wait for the ACK.</li>
 * <li>Only a positive ACK ends the source guest: the source commits (its copy never runs again),
 *     sends GO, and shuts the guest down; the destination resumes on GO. Any failure before the
 *     ACK — IO error, stall, protocol error, refusal — stops dirty logging and resumes the guest,
 *     which keeps running intact, tells the destination to discard (ABORT), and throws
 *     {@link MigrationException} saying what failed.</li>
 * <li>Post-copy instead of stop-and-copy ({@code --postcopy}, {@code --postcopy-after}): the stale
 *     pages are named (POSTCOPY) twice while the guest runs and once in the pause with STATE; the
 *     positive ACK(postcopy) is the commit, GO lets the destination run the guest, and the stale
 *     pages follow ({@link #postcopy}). A failure after GO keeps the guest paused here
 *     ({@code postcopy-paused}) for {@link #resume}.</li>
 * </ol>
 *
 * <p>Why three messages (COMPLETE → ACK → GO): with two, a lost ACK left both copies running (the
 * destination resumed on its own ACK, the source resumed for lack of it). Now the destination never
 * runs without GO, and a source that read the ACK never runs again, so at most one copy runs. The
 * ambiguity that no message count removes is moved to the safe side: if GO is lost, the source has
 * committed and the destination keeps the verified guest paused — both paused, nothing lost. A
 * failure while sending GO therefore does not resume the guest here: {@link #migrate} throws with
 * report status {@code unconfirmed}, and the guest stays paused (the caller decides; the
 * destination holds the verified copy, paused).
 *
 * <p>One instance per migration; the CLI's {@code migrate} and the VMM's control API create them.
 *
 * <p>Why one long class (post-copy made it the longest: its stream and {@link #resume} are the
 * first candidates to move out, into a post-copy source that borrows the batch encoder and the
 * report): it is one protocol run, and its correctness (which failure resumes the guest, where the commit point lies, which step of the pause is timed as what) is easiest to check when the steps read top to bottom in {@link #migrate(Connection)} with their failure paths beside them. What is separable lives elsewhere: writing ({@link FrameSink}), the convergence decision ({@link ConvergencePolicy}), pacing ({@link RateLimiter}), the report ({@code migration.report}).
 */
public final class MigrationSender {
    private final Migratable guest;
    private final SendOptions options;
    private final ConvergencePolicy policy = new ConvergencePolicy();
    private final MigrationReport report = new MigrationReport();
    private final long startNanos = System.nanoTime();

    private volatile SendPhase phase = SendPhase.SETUP;
    private volatile int round;
    private volatile long roundDone;
    private volatile long roundPages;
    private volatile long dirtyPages;
    private volatile FrameSink sink;
    /** The writer's compressor (null when not compressing), kept for the report after the sink closed. */
    private volatile PageCompressor compressor;
    private volatile long bytesBeforeSink;
    // Cancellation (the control API's migrate-cancel): honoured until COMPLETE is about to go out.
    // After that point the destination may already run the guest, so only the ACK decides.
    private final Object commitLock = new Object();
    private volatile boolean cancelRequested;
    private boolean committed;
    // Set on reading the positive completion ACK: the hand-over's commit point (see the class doc).
    private volatile boolean handedOver;
    /** Post-copy's GO went out: the guest runs at the destination, whatever fails from now on. */
    private volatile boolean postcopyStarted;
    /** Post-copy: pages not yet sent (the destination's guest faults on them). */
    private volatile DirtyBitmap postcopyLeft;
    /** Post-copy: every page the final POSTCOPY named (a resume may ask for these only), the classifier, and totals over connections. */
    private DirtyBitmap postcopyStale;
    private PageClassifier postcopyClassifier;
    private long postcopyFrom;
    private long postcopyPages;
    private long postcopyBytes;
    private long postcopyRequests;
    private volatile Connection connection;
    /** Every page folded as it is encoded (null under {@code --verify off}). */
    private final IncrementalDigest sentDigest;
    /** The state being read during the pause (null before it), awaited before a failed migration resumes the guest. */
    private volatile java.util.concurrent.CompletableFuture<byte[]> stateSave;
    /** Auto-converge: the guest's throttle now (0: full speed), and since when it has been above 0. */
    private int throttlePercent;
    private long throttledSince;
    /** The digest in the destination's positive completion ACK: what it holds at the instant before it resumes. */
    private long destinationDigest;
    /** What the destination holds, for duplicate references (null under {@code --duplicates off}); built once connected. */
    private DuplicateIndex duplicates;
    /** The kernel's counters of the connection once connected and once everything is written ({@link LinkRecord}). */
    private Optional<TcpInfo> linkAtStart = Optional.empty();
    private Optional<TcpInfo> linkAtEnd = Optional.empty();
    /** A batch's pages copied out of guest memory, hashed and encoded from the copy (duplicates only). */
    private byte[] staged;
    private MemorySegment stagedView;
    /** The savings this migration uses: the options', or on a loopback connection {@link ByteSavings#onLoopback}. */
    private ByteSavings savings;
    /** References are made before post-copy only: after GO the destination discarded the stale pages and fetches on fault. */
    private boolean referencesAllowed = true;
    /**
     * {@code --duplicates auto} makes references while the link runs below this (bytes/s), about
     * 2 Gbit/s, or the writer waits for it ({@link FrameSink#linkLimits}); and before the link is
     * measured, as pages sent then are in the index only if they were hashed (references off for
     * the first buffers found 975 duplicates on the idle image at 100 Mbit/s, on: 2,465).
     */
    static final double DUPLICATES_AUTO_LINK = 250e6;
    /** Pages hashed before the hit rate judges whether hashing pays ({@link #hashingPays}). */
    static final long HIT_RATE_SAMPLE = 4096;
    /** While hashing does not pay, one batch in this many is hashed still, so the hit rate stays measured. */
    static final int HASH_PROBE_EVERY = 16;
    private long batchesUnhashed;

    public MigrationSender(Migratable guest, SendOptions options) {
        StateSaveThread.prestart(); // not inside the pause
        this.guest = guest;
        this.options = options;
        report.role = "source";
        report.guest = guest.describe();
        report.detector = options.detector();
        report.samples = options.samples();
        report.maxBandwidth = options.maxBandwidth();
        report.downtimeLimitUs = options.downtimeLimitMillis() * 1000L;
        report.ramTotal = guest.memory().totalBytes();
        report.verify = options.verify().json();
        report.autoConverge = options.autoConverge();
        savings = options.savings();
        sentDigest = options.verify() == Verify.INCREMENTAL ? new IncrementalDigest(guest.memory().pageCount()) : null;
    }

    /**
     * Under {@code --duplicates auto}, whether hashing the next batch pays: what its references save
     * on the link outruns what hashing costs the classifying thread. A page hashed costs
     * {@link DuplicateIndex#nanosPerPage} here and saves, with the hit rate so far, {@code hitRate x
     * a page / link rate} there. A hit is counted as a whole page: what the duplicate would have cost
     * compressed is its own ratio, not the average's — sent in full, busy's duplicates compressed
     * against their twins in the same frame, the average fell to 0.17 and hashing stopped (1,220
     * references against 13,400 counted so, 30.6 MiB against 26.8 at 1 Gbit/s, 2 runs each), and
     * idle's repeat a gzip'd initramfs that does not compress at all. At 1 Gbit/s: the dirty Debian
     * image repeats 1.7 % of its pages and stops hashing, the busy one 55 % keeps on. It pays
     * whatever the model says while the writer waits for the link half its time (the classifying
     * thread's CPU is spare then), and before that share, the link, the hit rate and the cost are
     * measured: judged on the first 4,096 pages alone, at 100 Mbit/s, where the writer waits nearly
     * all its time, the idle image stopped hashing before its first compressed megabytes were
     * written, and its clustered duplicates went unseen (99 and 972 references in 2 runs against
     * 2,369-2,433 in series 4; 35-38 MiB against 25-26).
     * While it does not pay, one batch in {@link #HASH_PROBE_EVERY} is hashed still: those pages
     * alone enter the index, so the hit rate measured then reads low (idle's duplicates, a few
     * clusters, go unseen at 1 Gbit/s).
     */
    private boolean hashingPays(FrameSink s) {
        return hashingPays(duplicates.hitRate(HIT_RATE_SAMPLE), duplicates.nanosPerPage(), s.link().rate(), s.link().judgedShare());
    }

    static boolean hashingPays(double hitRate, double hashNanosPerPage, double linkBytesPerSecond, double writerWaitShare) {
        if (!(writerWaitShare < PageCompressor.LINK_BOUND_SHARE)) {
            return true; // the writer waits for the link, or who waits is not judged yet
        }
        double saved = hitRate * Wire.PAGE_SIZE / linkBytesPerSecond * 1e9;
        return !(saved < hashNanosPerPage); // NaN (not measured yet): pays
    }

    /**
     * The savings for connection {@code c} ({@link ByteSavings#onLoopback} towards this host) and,
     * when references may be made, the index and the staging buffer (none on loopback under
     * {@code auto}: 15 MiB per GiB allocated and filled for nothing).
     */
    private void prepareSavings(Connection c) {
        if (c.loopback()) {
            savings = savings.onLoopback();
        }
        boolean dedup = savings.duplicates() != ByteSavings.Duplicates.OFF;
        if (dedup && duplicates == null) {
            duplicates = new DuplicateIndex(guest.memory().pageCount(), DuplicateIndex.DEFAULT_BYTES_PER_GIB);
            staged = new byte[PageClassifier.MAX_BATCH * Wire.PAGE_SIZE];
            stagedView = MemorySegment.ofArray(staged);
        }
    }

    /** Ends one step of the pause: records its time under {@code name} and returns now. */
    private long lap(PauseStep name, long from) {
        long now = System.nanoTime();
        report.phase(name, (now - from) / 1000);
        return now;
    }

    /**
     * The audit, after GO (docs/REPORT.md, "Verification"): this copy is paused for good, so its
     * whole memory is hashed and compared with the destination's digest of the instant before it
     * resumed. A mismatch means a write the dirty log missed. Under {@code strict} the gate already
     * compared whole memories inside the pause; under {@code off} nothing is compared.
     */
    private boolean audit(GuestMemory memory) {
        if (options.verify() == Verify.OFF) {
            return true;
        }
        if (options.verify() == Verify.STRICT) {
            report.auditMatch = report.digestMatch;
            return true;
        }
        phase = SendPhase.AUDIT;
        long t0 = System.nanoTime();
        long whole = MemoryDigest.computeInBackground(memory, Runtime.getRuntime().availableProcessors());
        report.auditTimeUs = MigrationReport.microsSince(t0);
        report.auditMatch = whole == destinationDigest;
        if (!report.auditMatch) {
            report.error = String.format(java.util.Locale.ROOT, "audit mismatch: the paused source memory hashes to 0x%016x but the"
                    + " destination acknowledged 0x%016x: a write reached this guest's memory without reaching the dirty log, so the copy"
                    + " now running at %s may be corrupt. This side keeps its paused copy (it never runs again by itself); compare the two"
                    + " and drop one (the control API's quit)", whole, destinationDigest, report.peer);
        }
        return report.auditMatch;
    }

    /** The report so far (final once {@link #migrate} returned or threw). */
    public MigrationReport report() {
        return report;
    }

    public SendProgress progress() {
        FrameSink s = sink;
        return new SendProgress(phase, round, roundDone, roundPages, guest.memory().pageCount(),
                s == null ? bytesBeforeSink : s.bytesWritten(), dirtyPages, System.nanoTime() - startNanos);
    }

    /** How long a cancel waits for the sending thread to stop at a batch boundary before it closes the connection. */
    public static final long CANCEL_GRACE_MILLIS = 2_000;

    /**
     * Stops a running migration before its point of no return: the sending thread stops at its
     * next batch of pages, its failure path resumes the guest here (intact) and tells the
     * destination with ABORT that the source cancelled, and {@link #migrate} throws with status
     * {@code cancelled}. A sender blocked on the network (a stalled peer, an ACK that does not come)
     * has {@link #CANCEL_GRACE_MILLIS} to get there; then the connection is closed under it.
     * Returns false when it is too late (COMPLETE is on its way: the destination may already be
     * running the guest) or the migration already ended. Callable from any thread.
     */
    public boolean cancel() {
        synchronized (commitLock) {
            if (committed || phase.ended()) {
                return false;
            }
            cancelRequested = true;
        }
        Connection c = connection;
        if (c != null) {
            Thread.ofPlatform().daemon().name("cancel-deadline").start(() -> {
                try {
                    if (!ended.await(CANCEL_GRACE_MILLIS, java.util.concurrent.TimeUnit.MILLISECONDS)) {
                        closeQuietly(c);
                    }
                } catch (InterruptedException e) {
                    closeQuietly(c);
                }
            });
        }
        return true;
    }

    /** Counted down when {@link #migrate} returns or throws. */
    private final java.util.concurrent.CountDownLatch ended = new java.util.concurrent.CountDownLatch(1);

    /** Thrown at a batch boundary once {@link #cancel} was asked: the failure path takes it from there. */
    private static final class Cancelled extends IOException {
        private static final long serialVersionUID = 1L;

        Cancelled() {
            super(SendPhase.CANCELLED.json(), null);
        }
    }

    /** Connects through {@code transport} and migrates; a refused connection names the likely cause. */
    public MigrationReport migrate(Transport transport, InetSocketAddress to, int connectTimeoutMillis) throws MigrationException {
        report.transport = transport.name();
        report.peer = to.getHostString() + ":" + to.getPort();
        Connection c;
        try {
            c = transport.connect(to, connectTimeoutMillis);
        } catch (ConnectException e) {
            fail("cannot connect to " + report.peer + ": connection refused (is `d3vm receive --listen " + report.peer + "` running there?)");
            throw new AssertionError();
        } catch (SocketTimeoutException e) {
            fail("cannot connect to " + report.peer + ": no answer within " + connectTimeoutMillis + " ms (host down or firewalled?)");
            throw new AssertionError();
        } catch (IOException e) {
            fail("cannot connect to " + report.peer + ": " + e.getMessage());
            throw new AssertionError();
        }
        return migrate(c);
    }

    /** How every failure's message ends: the sender resumed the guest (a CLI whose process ends says more). */
    public static final String GUEST_KEEPS_RUNNING = "; the guest keeps running here";

    private void fail(String message) throws MigrationException {
        report.status = cancelRequested() ? MigrationStatus.CANCELLED : MigrationStatus.FAILED;
        report.error = message + GUEST_KEEPS_RUNNING;
        report.totalTimeUs = MigrationReport.microsSince(startNanos);
        phase = report.status == MigrationStatus.CANCELLED ? SendPhase.CANCELLED : SendPhase.FAILED; // the progress says what the status says
        ended.countDown();
        throw new MigrationException(report.error);
    }

    /** Migrates the guest over an open connection, which this method closes. */
    public MigrationReport migrate(Connection c) throws MigrationException {
        if (report.peer == null) {
            report.peer = c.peer();
        }
        connection = c;
        if (cancelRequested()) {
            closeQuietly(c); // cancelled while connecting: the first write fails and recovery runs
        }
        GuestMemory memory = guest.memory();
        PageClassifier classifier = Detectors.create(options.detector(), options.samples());
        Detectors.warmUpInBackground(options.detector(), options.samples());
        FrameDecoder in = new FrameDecoder(c.input(), Wire.DEFAULT_MAX_FRAME);
        boolean logging = false;
        MigrationException failure = null;
        PauseUrgency urgent = null;
        RateLimiter limiter = new RateLimiter(options.maxBandwidth());
        prepareSavings(c);
        linkAtStart = c.tcpInfo();
        try (FrameSink s = new FrameSink(c.output(), limiter, savings.codec(),
                savings.compress() == ByteSavings.Compress.AUTO, savings.measuresLink() ? c::tcpInfo : null);
             StallWatchdog watchdog = new StallWatchdog(c, () -> s.bytesWritten() + in.bytesRead(), options.stallTimeoutMillis())) {
            sink = s;
            compressor = s.compressor();
            try {
                // ---- setup ----
                watchdog.arm(options.ackTimeoutMillis());
                FrameBuffer fb = s.buffer();
                fb.handshake(guest.describe(), switch (options.verify()) {
                    case INCREMENTAL -> Wire.FEATURE_DIGEST;
                    case STRICT -> Wire.FEATURE_DIGEST | Wire.FEATURE_STRICT;
                    case OFF -> 0;
                } | (options.postcopy() ? Wire.FEATURE_POSTCOPY : 0) | savings.features());
                fb.layout(memory.layout());
                s.flush();
                Messages.Ack setup = readAck(in, AckStage.SETUP);
                if (!setup.ok()) {
                    throw new Refusal("the destination refused the migration: " + setup.message());
                }
                guest.startDirtyLogging();
                logging = true;
                report.setupTimeUs = MigrationReport.microsSince(startNanos);

                // ---- pre-copy ----
                watchdog.arm(options.stallTimeoutMillis());
                phase = SendPhase.PRE_COPY;
                DirtyBitmap pending = new DirtyBitmap(memory.pageCount());
                ConvergencePolicy.ProgressTracker tracker = new ConvergencePolicy.ProgressTracker();
                Classification cls = new Classification();
                StopReason stop;
                PrecopyContext last;
                int dirtyingFast = 0;
                while (true) {
                    round++;
                    RoundRecord r = sendRound(memory, classifier, cls, round == 1 ? null : pending, s);
                    guest.collectDirtyPages(pending);
                    report.dirtySyncCount++;
                    long dirty = pending.count();
                    dirtyPages = dirty;
                    double secs = r.durationUs() / 1e6;
                    // Round 1's bytes per page average over all of memory, mostly dispensable (324 bytes
                    // a page for the 1 GiB dirty guest): what a guest dirties is content, so after
                    // round 1 a dirty page is priced whole. Later rounds price the dirty pages themselves.
                    PrecopyContext ctx = new PrecopyContext(round, r.pages(), dirty,
                            round == 1 || r.pages() == 0 ? Wire.PAGE_SIZE + Wire.RUN_SIZE : (double) r.bytes() / r.pages(),
                            secs <= 0 ? 0 : r.bytes() / secs, options.downtimeLimitMillis() * 1_000_000L,
                            options.maxRounds(), tracker.record(dirty), options.autoConverge(), throttlePercent,
                            dirtyingFast = dirty * Wire.PAGE_SIZE * 2 > r.bytes() ? dirtyingFast + 1 : 0);
                    ConvergencePolicy.Decision decision = policy.decide(ctx);
                    if (!(decision instanceof ConvergencePolicy.Stop) && options.postcopyAfterRounds() >= 1
                            && round >= options.postcopyAfterRounds()) {
                        decision = new ConvergencePolicy.Stop(StopReason.POSTCOPY_AFTER);
                    }
                    if (decision instanceof ConvergencePolicy.Throttle(int percent)) {
                        throttle(percent);
                        dirtyingFast = 0; // QEMU counts afresh after each step
                    } else if (decision instanceof ConvergencePolicy.Stop(StopReason reason)) {
                        stop = reason;
                        last = ctx;
                        break;
                    }
                }
                report.stopReason = stop.text();
                // Post-copy when asked to after N rounds, or (--postcopy) when the pause would break the limit.
                boolean postcopy = options.postcopy() && (stop == StopReason.POSTCOPY_AFTER
                        || stop != StopReason.CONVERGED && last.expectedDowntimeNanos() > last.downtimeLimitNanos());
                if (!postcopy && stop != StopReason.CONVERGED && !options.allowLongDowntime()
                        && last.expectedDowntimeNanos() > last.downtimeLimitNanos()) {
                    throw new Refusal(notConverging(stop, last));
                }
                if (postcopy) {
                    referencesAllowed = false; // the destination discards what POSTCOPY names: no origin from here on
                    // Post-copy: the pages the last round dirtied will not be sent before the guest
                    // runs there; named now, the destination discards them outside the pause (about
                    // 1 ms per 4 MiB). The guest dirties more while it does: those are named in a
                    // second pass, so the pause discards only what the guest wrote during that one.
                    for (int pass = 0; pass < 2; pass++) {
                        if (pass > 0) {
                            guest.collectDirtyPages(pending);
                            report.dirtySyncCount++;
                        }
                        s.bufferFor(Wire.HEADER_SIZE + Wire.POSTCOPY_FIXED + pending.wordCount() * 8).postcopy(pending);
                        sync(s, in);
                    }
                } else {
                    // The destination may still be rebuilding what the socket buffers hold (megabytes):
                    // the pause starts once it has every live round, so it covers only the final pass.
                    sync(s, in);
                }

                // ---- stop-and-copy ----  (each step's share of the pause goes to downtime-phases)
                urgent = PauseUrgency.enter();
                long pausedAt = System.nanoTime();
                phase = SendPhase.STOP_AND_COPY;
                guest.pause();
                // Throttled until now (the guest ran braked while the destination caught up with
                // SYNC); paused, it needs no brake, and a failure from here resumes it at full speed.
                unthrottle();
                limiter.lift(); // --max-bandwidth shapes the live rounds; the pause sends at full speed
                long t = lap(PauseStep.PAUSE, pausedAt);
                // The guest's state is read (on the vCPU threads, for a KVM guest) while this thread
                // collects and sends (post-copy: names) the final dirty pages: the pause pays for the
                // longer, not the sum.
                java.util.concurrent.CompletableFuture<byte[]> stateSaved = guest.saveStateAsync();
                stateSave = stateSaved;
                guest.collectDirtyPages(pending);
                report.dirtySyncCount++;
                dirtyPages = pending.count();
                t = lap(PauseStep.FINAL_SYNC, t);
                if (postcopy) {
                    postcopy(memory, classifier, cls, pending, s, in, watchdog, urgent, limiter, stateSaved, pausedAt, t);
                } else {
                    round++;
                    // Not flushed: the final round, STATE and COMPLETE leave in one stream.
                    sendRound(memory, classifier, cls, pending, s, false);
                    t = lap(PauseStep.FINAL_PASS, t);
                    byte[] state = joinState(stateSaved);
                    s.bufferFor(Wire.HEADER_SIZE + state.length).state(state);
                    t = lap(PauseStep.STATE_SAVE, t); // what is left of it after the final pass
                    watchdog.arm(options.ackTimeoutMillis()); // nothing may move while we hash (strict)
                    long digest = 0;
                    if (options.verify() == Verify.STRICT) {
                        // The destination starts its own whole-memory digest when STATE arrives: send it first.
                        s.flush();
                        t = lap(PauseStep.FLUSH, t);
                        digest = MemoryDigest.compute(memory, Runtime.getRuntime().availableProcessors());
                        report.digestTimeUs = MigrationReport.microsSince(t);
                        t = lap(PauseStep.DIGEST, t);
                    } else if (options.verify() == Verify.INCREMENTAL) {
                        digest = sentDigest.value(); // every page folded as it was sent: nothing left to hash
                    }
                    report.digest = options.verify() == Verify.OFF ? null : digest;
                    synchronized (commitLock) {
                        if (cancelRequested) {
                            throw new Refusal("migration cancelled");
                        }
                        committed = true;
                    }
                    s.buffer().complete(digest, round);
                    s.flush();
                    t = lap(options.verify() == Verify.STRICT ? PauseStep.FLUSH_COMPLETE : PauseStep.FLUSH, t);

                    // ---- hand-over ----
                    phase = SendPhase.WAITING_ACK;
                    long ackFrom = t;
                    watchdog.arm(options.ackTimeoutMillis());
                    Messages.Ack done = readAck(in, AckStage.COMPLETION);
                    report.ackWaitUs = MigrationReport.microsSince(ackFrom);
                    t = lap(PauseStep.COMPLETE_TO_ACK, t);
                    if (options.verify() != Verify.OFF) {
                        report.digestMatch = done.ok() ? Boolean.TRUE : done.digest() != 0 && done.digest() != digest ? Boolean.FALSE : null;
                    }
                    if (!done.ok()) {
                        throw new Refusal("the destination refused the completed migration: " + done.message());
                    }
                    // Commit: from here the guest never runs on this side again, whatever happens to GO.
                    handedOver = true;
                    go(s, t, urgent, pausedAt);
                    report.totalTimeUs = MigrationReport.microsSince(startNanos);
                    watchdog.disarm();
                    destinationDigest = done.digest();
                }
            } catch (Refusal | IOException | RuntimeException e) {
                if (urgent != null) {
                    urgent.close();
                }
                if (postcopyStarted) {
                    postcopyInterrupted(logging, c, e, watchdog);
                }
                String why = describe(e, watchdog, in, c);
                if (handedOver) {
                    unconfirmed(logging, c, why);
                }
                recover(logging, s, c, why);
                fail(why);
            }
        } catch (MigrationException e) {
            failure = e;
        } finally {
            FrameSink s = sink;
            if (s != null) {
                bytesBeforeSink = s.bytesWritten();
            }
            sink = null;
            linkAtEnd = c.tcpInfo(); // still open: every byte of the migration is written
        }
        if (failure != null) {
            finish(classifier.stats());
            throw failure;
        }
        // Committed and GO sent: the destination runs the guest now. Only here does the source copy end.
        guest.stopDirtyLogging();
        closeQuietly(c);
        report.status = MigrationStatus.COMPLETED;
        ended.countDown();
        return completed(memory, classifier.stats());
    }

    /** The destination runs the guest: the report's last figures, the audit, and the end of this copy. */
    private MigrationReport completed(GuestMemory memory, DetectorStats stats) throws AuditMismatchException {
        report.status = MigrationStatus.COMPLETED;
        long total = report.totalTimeUs;
        finish(stats);
        report.totalTimeUs = total; // the audit below is not part of the migration's time
        if (!audit(memory)) {
            phase = SendPhase.COMPLETED;
            // The destination runs a copy that differs from this one: keep ours, paused, for the operator.
            throw new AuditMismatchException(report.error);
        }
        guest.shutdown();
        phase = SendPhase.COMPLETED;
        return report;
    }

    /** GO, after the commit: the destination's guest runs on it, so the pause ends here. */
    private void go(FrameSink s, long t, PauseUrgency urgent, long pausedAt) throws IOException {
        phase = SendPhase.GO;
        s.buffer().go();
        s.flush();
        lap(PauseStep.GO, t);
        urgent.close();
        report.downtimeUs = MigrationReport.microsSince(pausedAt);
    }

    /** SYNC, and the destination's ACK(sync) once it has rebuilt (and discarded) everything sent before it. */
    private void sync(FrameSink s, FrameDecoder in) throws IOException, Refusal {
        s.buffer().sync();
        s.flush();
        Messages.Ack synced = readAck(in, AckStage.SYNC);
        if (!synced.ok() || synced.digest() != round) {
            throw new ProtocolException("ACK(sync) for " + synced.digest() + " rounds, " + round + " were sent");
        }
    }

    /** Post-copy's stream goes in batches this small, flushed one by one, so a REQUEST waits behind at most one. */
    private static final int POSTCOPY_BATCH = 64;
    /** A REQUEST is answered with the page and the next ones still to send, up to this many (the guest's next accesses). */
    private static final int REQUEST_RUN = 16;

    /**
     * Post-copy, from the pause's final dirty-log collection on ({@code t} is the pause's clock so
     * far; the state is being read in {@code stateSaved}): the pages dirtied since their last send are
     * named in POSTCOPY rather than sent, then STATE; on a
     * positive ACK(postcopy) this side commits and sends GO, and the destination's guest runs. Then
     * those pages follow in small batches, each REQUESTed page (and the next few) before the next
     * batch, then END_OF_ROUND and COMPLETE; returns on the destination's ACK(completion).
     */
    private void postcopy(GuestMemory memory, PageClassifier classifier, Classification cls, DirtyBitmap pending, FrameSink s,
                          FrameDecoder in, StallWatchdog watchdog, PauseUrgency urgent, RateLimiter limiter,
                          java.util.concurrent.CompletableFuture<byte[]> stateSaved, long pausedAt, long t) throws IOException, Refusal {
        s.bufferFor(Wire.HEADER_SIZE + Wire.POSTCOPY_FIXED + pending.wordCount() * 8).postcopy(pending);
        t = lap(PauseStep.POSTCOPY_BITMAP, t);
        byte[] state = joinState(stateSaved);
        s.bufferFor(Wire.HEADER_SIZE + state.length).state(state);
        t = lap(PauseStep.STATE_SAVE, t);
        synchronized (commitLock) {
            if (cancelRequested) {
                throw new Refusal("migration cancelled");
            }
            committed = true;
        }
        s.flush();
        t = lap(PauseStep.FLUSH, t);
        phase = SendPhase.WAITING_ACK;
        watchdog.arm(options.ackTimeoutMillis());
        Messages.Ack ready = readAck(in, AckStage.POSTCOPY);
        t = lap(PauseStep.COMPLETE_TO_ACK, t);
        if (!ready.ok()) {
            throw new Refusal("the destination refused post-copy: " + ready.message());
        }
        // Commit: the destination resumes on GO with part of the memory; this copy never runs again.
        handedOver = true;
        postcopyLeft = pending;
        postcopyStarted = true;
        go(s, t, urgent, pausedAt);

        // ---- post-copy: the guest runs at the destination ----
        phase = SendPhase.POSTCOPY;
        postcopyStale = new DirtyBitmap(memory.pageCount());
        postcopyStale.or(pending);
        postcopyClassifier = classifier;
        postcopyFrom = System.nanoTime();
        round++;
        streamPostcopy(memory, classifier, cls, pending, s, in, watchdog, limiter);
    }

    /**
     * Post-copy's stream, on this connection: the {@code pending} pages in small flushed batches,
     * REQUESTed ones (and the next few) first, then END_OF_ROUND and COMPLETE; returns on a positive
     * ACK(completion). Throws when the connection fails or the destination refuses.
     */
    private void streamPostcopy(GuestMemory memory, PageClassifier classifier, Classification cls, DirtyBitmap pending, FrameSink s,
                                FrameDecoder in, StallWatchdog watchdog, RateLimiter limiter) throws IOException {
        limiter.limit(options.maxPostcopyBandwidth());
        connection.preferLatency(); // a REQUESTed page waits behind everything queued before it
        watchdog.arm(options.stallTimeoutMillis());
        long from = System.nanoTime();
        long bytes0 = s.bytesWritten();
        PostcopyRequests requests = new PostcopyRequests(in, memory.pageCount());
        requests.start();
        roundPages = pending.count();
        roundDone = 0;
        long[] sent = new long[2]; // pages, normal
        for (long next = 0; ; ) {
            boolean answered = false;
            for (long q = requests.poll(); q >= 0; q = requests.poll()) {
                if (pending.get(q)) {
                    sendStale(memory, classifier, cls, pending, s, q, REQUEST_RUN, sent);
                    answered = true;
                }
            }
            if (answered) {
                s.flush();
            }
            requests.check();
            long streamed = 0;
            while (streamed < POSTCOPY_BATCH) {
                long p = pending.nextSet(next);
                if (p < 0) {
                    next = memory.pageCount();
                    break;
                }
                long before = sent[0];
                next = sendStale(memory, classifier, cls, pending, s, p, (int) (POSTCOPY_BATCH - streamed), sent);
                streamed += sent[0] - before;
            }
            if (streamed == 0) {
                break;
            }
            s.flush();
            roundDone = sent[0];
        }
        s.buffer().endOfRound(round, sent[0], sent[1]);
        long digest = sentDigest == null ? 0 : sentDigest.value(); // every page as it was at the pause, folded as sent
        report.digest = options.verify() == Verify.OFF ? null : digest;
        s.buffer().complete(digest, round);
        s.flush();
        long bytes = s.bytesWritten() - bytes0;
        postcopyPages += sent[0];
        postcopyBytes += bytes;
        report.rounds.add(new RoundRecord(round, sent[0], sent[1], bytes, MigrationReport.microsSince(from), 0));
        phase = SendPhase.WAITING_ACK;
        watchdog.arm(options.ackTimeoutMillis());
        Messages.Ack done = requests.await(options.ackTimeoutMillis());
        postcopyRequests += requests.requests(); // every one: the destination stops asking before it ACKs
        watchdog.disarm();
        report.totalTimeUs = MigrationReport.microsSince(startNanos);
        report.postcopy = new io.d3vm.migration.report.PostcopyRecord(MigrationReport.microsSince(postcopyFrom), postcopyPages, postcopyBytes,
                postcopyRequests, 0, 0, null, null, null);
        if (options.verify() != Verify.OFF) {
            report.digestMatch = done.ok();
        }
        if (!done.ok()) {
            throw new IOException("the destination refused the end of post-copy: " + done.message());
        }
        postcopyLeft = null;
        destinationDigest = done.digest();
    }

    /**
     * Finishes a post-copy that broke after GO ({@code status: postcopy-paused}) over a new connection
     * to the destination, which holds the guest: it answers the resuming HANDSHAKE with POSTCOPY naming
     * the pages it still lacks (it is the one that knows: pages in flight when the connection broke
     * may never have arrived), and those are sent as the stream was. On success the migration ends as
     * a completed one (audit, guest shut down); a failure leaves it {@code postcopy-paused} again, to
     * resume once more. QEMU's post-copy recovery ({@code migrate resume=true}) works the same way.
     */
    public MigrationReport resume(Transport transport, InetSocketAddress to, int connectTimeoutMillis) throws MigrationException {
        if (report.status != MigrationStatus.POSTCOPY_PAUSED) {
            throw new IllegalStateException("nothing to resume: the migration is " + report.status.json() + ", not postcopy-paused");
        }
        Connection c;
        try {
            c = transport.connect(to, connectTimeoutMillis);
        } catch (IOException e) {
            throw new MigrationException("cannot reconnect to " + to.getHostString() + ":" + to.getPort() + " to resume post-copy ("
                    + e.getMessage() + "); still postcopy-paused: resume again once the destination is reachable");
        }
        report.peer = c.peer();
        connection = c;
        report.status = MigrationStatus.ACTIVE;
        report.error = null;
        phase = SendPhase.POSTCOPY;
        GuestMemory memory = guest.memory();
        FrameDecoder in = new FrameDecoder(c.input(), Wire.DEFAULT_MAX_FRAME);
        RateLimiter limiter = new RateLimiter(options.maxPostcopyBandwidth());
        long bytesBefore = bytesBeforeSink;
        try (FrameSink s = new FrameSink(c.output(), limiter);
             StallWatchdog watchdog = new StallWatchdog(c, () -> s.bytesWritten() + in.bytesRead(), options.stallTimeoutMillis())) {
            sink = s;
            try {
                watchdog.arm(options.ackTimeoutMillis());
                s.buffer().handshake(guest.describe(), Wire.FEATURE_RESUME | (options.verify() == Verify.OFF ? 0 : Wire.FEATURE_DIGEST));
                s.flush();
                FrameType t = in.next();
                if (t == FrameType.ABORT) {
                    throw new IOException("the destination refused to resume: " + in.readAbort().reason());
                }
                if (t == FrameType.ACK) {
                    throw new IOException("the destination refused to resume: " + in.readAck().message());
                }
                if (t != FrameType.POSTCOPY) {
                    throw new ProtocolException("expected POSTCOPY (the pages the destination lacks) in answer to a resume, got " + t);
                }
                DirtyBitmap missing = in.readPostcopy(memory.pageCount());
                for (long p = missing.nextSet(0); p >= 0; p = missing.nextSet(p + 1)) {
                    if (!postcopyStale.get(p)) {
                        throw new ProtocolException("the destination asks for page " + p + ", which post-copy never named");
                    }
                }
                postcopyLeft = missing;
                streamPostcopy(memory, postcopyClassifier, new Classification(), missing, s, in, watchdog, limiter);
            } catch (IOException | RuntimeException e) {
                bytesBeforeSink = bytesBefore + s.bytesWritten();
                postcopyInterrupted(false, c, e, watchdog);
            }
            bytesBeforeSink = bytesBefore + s.bytesWritten();
        } finally {
            sink = null;
        }
        closeQuietly(c);
        return completed(memory, postcopyClassifier.stats());
    }

    /**
     * Sends the stale pages from {@code first} on that are still pending, contiguous and in one
     * region, at most {@code max}; clears them and adds to {@code sent} (pages, normal pages).
     * Returns the page after the last one sent.
     */
    private long sendStale(GuestMemory memory, PageClassifier classifier, Classification cls, DirtyBitmap pending, FrameSink s,
                           long first, int max, long[] sent) throws IOException {
        MemoryRegion region = memory.regionOfPage(first);
        long end = first + 1;
        long limit = Math.min(region.endPageIndex(), first + max);
        while (end < limit && pending.get(end)) {
            end++;
        }
        int n = (int) (end - first);
        sent[1] += batch(memory, classifier, cls, region, first, n, s);
        sent[0] += n;
        for (long p = first; p < end; p++) {
            pending.clear(p);
        }
        return end;
    }

    /**
     * Post-copy broke after GO: the destination's guest ran with part of its memory, this side holds
     * the rest. Neither may be dropped: the guest stays paused here, and the report says so.
     */
    private void postcopyInterrupted(boolean logging, Connection c, Exception e, StallWatchdog watchdog) throws MigrationException {
        if (logging) {
            guest.stopDirtyLogging();
        }
        closeQuietly(c);
        DirtyBitmap left = postcopyLeft;
        String why = watchdog.fired() ? "nothing moved for " + watchdog.timeoutMillis() + " ms" : String.valueOf(e.getMessage());
        report.status = MigrationStatus.POSTCOPY_PAUSED;
        report.error = "post-copy interrupted (" + why + "): the guest ran at " + report.peer + " with part of its memory, and "
                + (left == null ? "some" : String.valueOf(left.count())) + " pages are still only here. This side keeps them and"
                + " the guest paused (it never runs here again); the destination keeps its half paused. Do not stop either"
                + " process: each holds memory the other lacks";
        report.totalTimeUs = MigrationReport.microsSince(startNanos);
        phase = SendPhase.POSTCOPY_PAUSED;
        ended.countDown();
        throw new MigrationException(report.error);
    }

    /** A batch's classes when every page of it is UNPOPULATED, and its (unused) patterns. */
    private static final byte[] UNPOPULATED_BATCH = new byte[PageClassifier.MAX_BATCH];
    private static final long[] NO_PATTERNS = new long[PageClassifier.MAX_BATCH];

    static {
        java.util.Arrays.fill(UNPOPULATED_BATCH, (byte) io.d3vm.migration.detect.PageClass.UNPOPULATED.ordinal());
    }

    /** The state {@link Migratable#saveStateAsync} read; its failure is the migration's (the guest resumes). */
    private static byte[] joinState(java.util.concurrent.CompletableFuture<byte[]> saved) {
        try {
            return saved.join();
        } catch (java.util.concurrent.CompletionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException("saving the guest's state failed: " + e.getCause(), e.getCause());
        }
    }

    /**
     * Sends one round: every page when {@code pending} is null, else the pages set in it (which are
     * cleared). Flushes, so the round's duration measures the wire.
     */
    private RoundRecord sendRound(GuestMemory memory, PageClassifier classifier, Classification cls, DirtyBitmap pending, FrameSink s)
            throws IOException {
        return sendRound(memory, classifier, cls, pending, s, true);
    }

    private RoundRecord sendRound(GuestMemory memory, PageClassifier classifier, Classification cls, DirtyBitmap pending, FrameSink s,
                                  boolean flush) throws IOException {
        long t0 = System.nanoTime();
        long bytes0 = s.bytesWritten();
        long pages = 0;
        long normal = 0;
        roundDone = 0;
        roundPages = pending == null ? memory.pageCount() : pending.count();
        if (pending == null) {
            for (MemoryRegion region : memory.regions()) {
                for (long p = region.firstPageIndex(), end = region.endPageIndex(); p < end; ) {
                    // What the host never backed crosses as UNPOPULATED runs, without a page-by-page look.
                    for (long run = classifier.unpopulatedRun(memory, p, end - p); run > 0; ) {
                        int n = (int) Math.min(PageClassifier.MAX_BATCH, run);
                        s.buffer().pages(p, n, UNPOPULATED_BATCH, NO_PATTERNS, region.host(),
                                (p - region.firstPageIndex()) << GuestMemory.PAGE_SHIFT, sentDigest);
                        if (duplicates != null) {
                            duplicates.count(p, n);
                        }
                        p += n;
                        run -= n;
                        pages += n;
                    }
                    if (p < end) {
                        int n = (int) Math.min(PageClassifier.MAX_BATCH, end - p);
                        normal += batch(memory, classifier, cls, region, p, n, s);
                        p += n;
                        pages += n;
                    }
                    roundDone = pages;
                }
            }
        } else {
            MemoryRegion region = null;
            for (long p = pending.nextSet(0); p >= 0; ) {
                if (region == null || p >= region.endPageIndex()) {
                    region = memory.regionOfPage(p);
                }
                long end = p + 1;
                long limit = Math.min(region.endPageIndex(), p + PageClassifier.MAX_BATCH);
                while (end < limit && pending.get(end)) {
                    end++;
                }
                int n = (int) (end - p);
                normal += batch(memory, classifier, cls, region, p, n, s);
                pages += n;
                roundDone = pages;
                p = pending.nextSet(end);
            }
            pending.clearAll();
        }
        s.buffer().endOfRound(round, pages, normal);
        if (flush) {
            s.flush();
        }
        long bytes = s.bytesWritten() - bytes0;
        RoundRecord r = new RoundRecord(round, pages, normal, bytes, MigrationReport.microsSince(t0), throttlePercent);
        report.rounds.add(r);
        return r;
    }

    private int batch(GuestMemory memory, PageClassifier classifier, Classification cls, MemoryRegion region, long first, int n, FrameSink s)
            throws IOException {
        if (cancelRequested) {      // volatile, read once per batch of 512 pages
            throw new Cancelled();
        }
        classifier.classify(memory, first, n, round, cls);
        MemorySegment host = region.host();
        long hostOffset = (first - region.firstPageIndex()) << GuestMemory.PAGE_SHIFT;
        if (duplicates != null) {
            boolean references = referencesAllowed && (savings.duplicates() == ByteSavings.Duplicates.ON
                    || savings.duplicates() == ByteSavings.Duplicates.AUTO && s.linkLimits(DUPLICATES_AUTO_LINK)
                    && (hashingPays(s) || ++batchesUnhashed % HASH_PROBE_EVERY == 0));
            if (references) {
                stage(cls.classes, n, host, hostOffset);
                host = stagedView;
                hostOffset = 0;
            }
            int made = duplicates.apply(first, n, cls.classes, cls.patterns, cls.versions, staged, references);
            long[] counted = classifier.stats().pages;
            counted[PageClass.NORMAL.ordinal()] -= made;
            counted[PageClass.DUPLICATE.ordinal()] += made;
        }
        // Counted per batch, not per round: a migration cancelled mid-round reports the normal pages
        // it sent in that round too, exactly as many as d3.pages.normal counts.
        int normal;
        try {
            FrameBuffer fb = s.buffer(); // may write the buffer out: the first I/O after the classification
            normal = fb.pages(first, n, cls.classes, cls.patterns, cls.versions, host, hostOffset, sentDigest);
        } catch (IOException | RuntimeException e) {
            classifier.stats().uncount(cls.classes, n); // classified, never sent: not in the report's page counts
            throw e;
        }
        report.ramNormal += normal;
        return normal;
    }

    /**
     * Copies the batch's NORMAL pages to {@link #staged} (page i at 4096 i): the duplicate index
     * hashes the copy and the encoder sends the same copy, so a reference names exactly the bytes
     * that crossed even while the guest writes the page.
     */
    private void stage(byte[] classes, int n, MemorySegment host, long hostOffset) {
        for (int i = 0; i < n; ) {
            if (classes[i] != Wire.CLASS_NORMAL) {
                i++;
                continue;
            }
            int j = i + 1;
            while (j < n && classes[j] == Wire.CLASS_NORMAL) {
                j++;
            }
            MemorySegment.copy(host, hostOffset + ((long) i << Wire.PAGE_SHIFT), stagedView, (long) i << Wire.PAGE_SHIFT,
                    (long) (j - i) << Wire.PAGE_SHIFT);
            i = j;
        }
    }

    private Messages.Ack readAck(FrameDecoder in, AckStage stage) throws IOException, Refusal {
        FrameType t = in.next();
        if (t == FrameType.ABORT) {
            throw new Refusal("the destination aborted: " + in.readAbort().reason());
        }
        if (t != FrameType.ACK) {
            throw new ProtocolException("expected an ACK from the destination, got " + t);
        }
        Messages.Ack a = in.readAck();
        if (a.stage() != stage) {
            throw new ProtocolException("expected the ACK for stage " + stage + ", got stage " + a.stage());
        }
        return a;
    }

    /** Makes the failure message; if the connection broke, looks for the destination's last word. */
    private String describe(Exception e, StallWatchdog watchdog, FrameDecoder in, Connection c) {
        if (e instanceof Refusal) {
            return e.getMessage();
        }
        if (cancelRequested()) {
            return Wire.ABORT_CANCELLED + " in phase " + phase;
        }
        if (watchdog.fired()) {
            return "the destination " + report.peer + " stopped responding (nothing moved for " + watchdog.timeoutMillis() + " ms in phase "
                    + phase + ")";
        }
        if (e instanceof ProtocolException) {
            return "protocol error from the destination " + report.peer + ": " + e.getMessage();
        }
        if (e instanceof IOException) {
            String last = destinationsLastWord(in, watchdog);
            return "the connection to the destination " + report.peer + " failed in phase " + phase + " (" + e.getMessage() + ")"
                    + (last == null ? "" : "; the destination said: " + last);
        }
        return "migration failed in phase " + phase + ": " + e;
    }

    /** A receiver that gives up sends ABORT before closing; try briefly to read it. */
    private static String destinationsLastWord(FrameDecoder in, StallWatchdog watchdog) {
        try {
            watchdog.arm(1000);
            if (in.bodyLeft() != 0) {
                return null;
            }
            FrameType t = in.next();
            if (t == FrameType.ABORT) {
                return in.readAbort().reason();
            }
            if (t == FrameType.ACK) {
                Messages.Ack a = in.readAck();
                return a.ok() ? null : a.message();
            }
        } catch (IOException | RuntimeException ignored) {
            // nothing readable: the reset was all there was
        }
        return null;
    }

    /**
     * Failure after the positive completion ACK (sending GO failed): the guest is NOT resumed — the
     * destination holds a verified copy and may or may not have GO. Stays paused; throws.
     */
    private void unconfirmed(boolean logging, Connection c, String why) throws MigrationException {
        unthrottle();
        if (logging) {
            guest.stopDirtyLogging();
        }
        closeQuietly(c);
        report.status = MigrationStatus.UNCONFIRMED;
        report.error = "hand-over unconfirmed: the destination verified and acknowledged the guest, so this side committed and will"
                + " not resume it, but sending GO failed (" + why + "). The guest is paused here and kept paused at the destination"
                + " (which resumes only on GO): it runs nowhere until an operator acts, and nothing is lost";
        report.totalTimeUs = MigrationReport.microsSince(startNanos);
        phase = SendPhase.FAILED;
        ended.countDown();
        throw new MigrationException(report.error);
    }

    /** Failure before the ACK: the guest runs on here, intact; the destination is told to discard. */
    /** Auto-converge: throttles the guest to {@code percent} for the rounds that follow. */
    private void throttle(int percent) {
        if (throttlePercent == 0) {
            throttledSince = System.nanoTime();
        }
        throttlePercent = percent;
        guest.throttle(percent);
    }

    /** Back to full speed; the time spent throttled goes to the report. */
    private void unthrottle() {
        if (throttlePercent > 0) {
            guest.throttle(0);
            report.throttleTimeUs += MigrationReport.microsSince(throttledSince);
            throttlePercent = 0;
        }
    }

    /** Why pre-copy gave up, how long the pause would be, and the ways out. */
    private static String notConverging(StopReason stop, PrecopyContext c) {
        return String.format(java.util.Locale.ROOT, "pre-copy did not converge (%s after %d rounds, %d pages still dirty): the pause would"
                        + " take about %.0f ms at the %s/s measured, past --downtime-limit %d ms. Give --auto-converge (slow the guest"
                        + " until it converges), a larger --downtime-limit or more bandwidth, or --allow-long-downtime to pause anyway",
                stop.text(), c.round(), c.dirtyPages(), c.expectedDowntimeNanos() / 1e6,
                io.d3vm.memory.Sizes.format((long) c.bandwidthBytesPerSec()), c.downtimeLimitNanos() / 1_000_000);
    }

    private void recover(boolean logging, FrameSink s, Connection c, String why) {
        unthrottle();
        java.util.concurrent.CompletableFuture<byte[]> saving = stateSave;
        if (saving != null) {
            // The vCPUs may still be reading their state for the final pass that failed: let them
            // finish before they run again.
            try {
                saving.join();
            } catch (RuntimeException ignored) {
                // the state is not needed any more
            }
        }
        if (logging) {
            guest.stopDirtyLogging();
        }
        guest.resume();
        try {
            FrameBuffer fb = s.bufferFor(Wire.HEADER_SIZE + Wire.ABORT_FIXED + Wire.MAX_TEXT_BYTES);
            fb.abort(why.length() > 1000 ? why.substring(0, 1000) : why);
            s.flush();
        } catch (IOException | RuntimeException ignored) {
            // the connection is already gone; the destination discards on its own
        }
        closeQuietly(c);
    }

    private void finish(DetectorStats st) {
        report.totalTimeUs = MigrationReport.microsSince(startNanos);
        report.ramTransferred = bytesBeforeSink;
        System.arraycopy(st.pages, 0, report.pagesByClass, 0, report.pagesByClass.length);
        report.sampledWords = st.sampledWords;
        report.fullChecks = st.fullChecks;
        report.samplerMisses = st.samplerMisses;
        report.detectorNanos = st.detectorNanos;
        report.savings = savingsRecord();
        report.link = linkRecord(linkAtStart, linkAtEnd);
        report.ramRemaining = report.status == MigrationStatus.COMPLETED ? 0 : dirtyPages * (long) Wire.PAGE_SIZE;
    }

    /**
     * The report's {@code savings}, or null when neither compression nor references were asked for
     * (asked for as {@code auto} and turned off on loopback, it says so: {@code none}, {@code off}).
     */
    private io.d3vm.migration.report.SavingsRecord savingsRecord() {
        PageCompressor pc = compressor;
        if (pc == null && duplicates == null && options.savings().equals(ByteSavings.none())) {
            return null;
        }
        ByteSavings sv = savings;
        return new io.d3vm.migration.report.SavingsRecord(sv.compress().name().toLowerCase(java.util.Locale.ROOT),
                pc == null ? null : pc.codec(), pc == null ? 0 : pc.highestLevel, pc == null ? 0 : pc.framesPacked, pc == null ? 0 : pc.framesRaw,
                pc == null ? 0 : pc.rawBytes, pc == null ? 0 : pc.packedBytes, pc == null ? 0 : pc.nanos / 1000,
                sv.duplicates().name().toLowerCase(java.util.Locale.ROOT), duplicates == null ? 0 : duplicates.hits,
                duplicates == null ? 0 : duplicates.bytes(), duplicates == null ? 0 : duplicates.slots(),
                duplicates == null ? 0 : duplicates.evictions, duplicates == null ? 0 : duplicates.hashNanos / 1000);
    }

    /** The report's {@code link}: what the kernel counted between the two readings, or null without both. */
    static LinkRecord linkRecord(Optional<TcpInfo> start, Optional<TcpInfo> end) {
        if (start.isEmpty() || end.isEmpty()) {
            return null;
        }
        TcpInfo a = start.get();
        TcpInfo b = end.get();
        return new LinkRecord(b.busyMicros() - a.busyMicros(), b.rwndLimitedMicros() - a.rwndLimitedMicros(),
                b.sndbufLimitedMicros() - a.sndbufLimitedMicros(), b.deliveryRateBytesPerSecond(), b.rttMicros(),
                b.minRttMicros(), b.bytesRetransmitted() - a.bytesRetransmitted());
    }

    private boolean cancelRequested() {
        synchronized (commitLock) {
            return cancelRequested;
        }
    }

    private static void closeQuietly(Connection c) {
        try {
            c.close();
        } catch (IOException ignored) {
            // closing a dead connection
        }
    }

    /** The destination said no (refusing ACK or ABORT). */
    private static final class Refusal extends Exception {
        private static final long serialVersionUID = 1L;

        Refusal(String message) {
            super(message, null, false, false);
        }
    }
}
