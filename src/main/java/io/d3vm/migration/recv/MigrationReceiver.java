package io.d3vm.migration.recv;

import io.d3vm.memory.DirtyBitmap;
import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.IncrementalDigest;
import io.d3vm.memory.MemoryDigest;
import io.d3vm.memory.MemoryLayout;
import io.d3vm.memory.MemoryRegion;
import io.d3vm.migration.MigrationException;
import io.d3vm.migration.PauseUrgency;
import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.migration.report.PauseStep;
import io.d3vm.migration.report.RoundRecord;
import io.d3vm.migration.transport.Connection;
import io.d3vm.migration.transport.StallWatchdog;
import io.d3vm.migration.wire.AckStage;
import io.d3vm.migration.wire.FrameBuffer;
import io.d3vm.migration.wire.FrameDecoder;
import io.d3vm.migration.wire.FrameType;
import io.d3vm.migration.wire.Messages;
import io.d3vm.migration.wire.PageBatch;
import io.d3vm.migration.wire.ProtocolException;
import io.d3vm.migration.wire.Wire;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The destination side of a migration over one {@link Connection}: follows the {@link ReceiveState}
 * machine, builds the guest through the {@link GuestFactories} once the layout is known and within
 * {@link ReceiverLimits}, rebuilds memory with the received-map rule, verifies the source's digest,
 * restores the guest's state, acknowledges, and resumes the guest only when the source's GO arrives.
 *
 * <p>Hand-over (three messages: COMPLETE → ACK → GO). After the positive completion ACK the guest
 * stays paused until GO: the source commits (never runs its copy again) only once it has read the
 * ACK, so a destination that resumed on its own ACK would run a second copy whenever the ACK is
 * lost. If GO does not come (the connection ends, the read timeout passes, anything else arrives)
 * the verified guest is kept paused — neither resumed nor discarded — and {@link #receive} throws
 * {@link HandoverUnconfirmedException}, which hands it over. An ABORT in place of GO means the
 * source never saw the ACK and resumed its own copy: the guest here is discarded.
 *
 * <p>Received-map rule (docs/DESIGN.md, decision 3): the new guest's memory starts zero and unpopulated.
 * A ZERO or UNPOPULATED record for a page that never received content costs nothing; for a page
 * that did (an earlier round sent data or a pattern) it must clear it. UNIFORM fills the pattern.
 *
 * <p>Any failure — malformed or out-of-order frame, a limit, a stalled or vanished peer, a digest
 * mismatch — shuts the half-received guest down (it never runs), tells the peer with ABORT or a
 * refusing ACK when the connection still works, and throws {@link MigrationException}.
 *
 * <p>Post-copy (the source offered it in its HANDSHAKE): the pages POSTCOPY names are discarded and
 * fetched on fault by {@link PostcopyDestination}; the guest resumes on GO before they have all
 * arrived, and {@link #receive} returns once COMPLETE has checked them. A break after GO holds the
 * guest ({@link PostcopyPausedException}, {@link HeldPostcopy}) for the source's resumption.
 *
 * <p>One instance per connection; the CLI's {@code receive} command and tests create them.
 *
 * <p>Why one long class: the receive loop, the received-map rebuild and the hand-over are the destination's half of one protocol run; the order rules live in {@link ReceiveState}, the limits in {@link ReceiverLimits}, what it saw in {@link ReceiveStats}, and what is left here reads in frame order.
 */
public final class MigrationReceiver {
    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final GuestFactories factories;
    private final ReceiverLimits limits;
    private final int digestThreads;
    private final ReceiveStats stats = new ReceiveStats();
    private volatile ReceiveState state = ReceiveState.start();

    public MigrationReceiver(GuestFactories factories, ReceiverLimits limits) {
        this.factories = factories;
        this.limits = limits;
        this.digestThreads = Math.max(1, Runtime.getRuntime().availableProcessors());
    }

    public ReceiveStats stats() {
        return stats;
    }

    /** The current state, for progress displays. */
    public ReceiveState state() {
        return state;
    }

    /**
     * Receives one migration. On success the returned guest is running (resumed on the source's GO);
     * the caller owns it. Throws {@link HandoverUnconfirmedException} (holding the paused, verified
     * guest) when the ACK went out but GO did not come, and {@link MigrationException} (the guest
     * discarded) on every other failure.
     */
    public Migratable receive(Connection connection) throws MigrationException {
        stats.startNanos = System.nanoTime();
        stats.peer = connection.peer();
        Session session = new Session();
        return drive(session, connection, session::run);
    }

    /** Finishes a post-copy held after it broke, over the source's resuming connection ({@link HeldPostcopy#resume}). */
    Migratable resume(Session session, Connection connection) throws MigrationException {
        stats.peer = connection.peer();
        return drive(session, connection, session::resume);
    }

    /** One connection's part of a migration; the failures mapped to what the caller is told. */
    private interface Step {
        Migratable run() throws IOException, PeerAbort, Refused, Unconfirmed, PostcopyBroken;
    }

    private Migratable drive(Session session, Connection connection, Step step) throws MigrationException {
        FrameDecoder in = new FrameDecoder(connection.input(), limits.maxFrameLength());
        FrameBuffer out = new FrameBuffer(FrameBuffer.MIN_CAPACITY);
        session.attach(in, out, connection);
        long bytesBefore = stats.bytesReceived;
        boolean peerTold = false;
        try (StallWatchdog watchdog = new StallWatchdog(connection, in::bytesRead, limits.readTimeoutMillis())) {
            watchdog.arm(limits.readTimeoutMillis());
            try {
                return step.run();
            } catch (PostcopyBroken e) {
                peerTold = true; // the source knows: its side broke too, and it keeps its guest paused
                Throwable why = e.getCause();
                String what = watchdog.fired() ? "nothing arrived for " + limits.readTimeoutMillis() + " ms" : why.getMessage();
                throw new PostcopyPausedException("post-copy interrupted (" + what + "): the guest ran here while "
                        + e.postcopy.missingPages() + " of its pages were still at the source " + stats.peer + ". It is kept paused"
                        + " here with its memory and the source keeps those pages, paused: neither copy is whole, so do not stop"
                        + " either process: the source reconnects by itself and finishes it (docs/RELIABILITY.md, post-copy)",
                        new HeldPostcopy(this, session, e.guest, e.postcopy), why);
            } catch (Unconfirmed e) {
                peerTold = true; // nothing to tell: the source either committed or already resumed
                Throwable why = e.getCause();
                String what = watchdog.fired() ? "nothing arrived for " + limits.readTimeoutMillis() + " ms (read timeout)"
                        : why.getMessage();
                throw new HandoverUnconfirmedException("hand-over unconfirmed: the guest was verified and acknowledged, but the source's GO"
                        + " did not arrive from " + stats.peer + " (" + what + "). The source may still run the guest (if it never saw the"
                        + " ACK), or may have committed (if GO was lost); the verified guest is kept paused here, neither resumed nor"
                        + " discarded. Check the source: if it says the guest keeps running there, this copy is redundant.", e.guest, why);
            } catch (PeerAbort e) {
                peerTold = true;
                String reason = e.getMessage();
                throw new MigrationException(reason.startsWith(Wire.ABORT_CANCELLED)
                        ? "the source cancelled the migration" + reason.substring(Wire.ABORT_CANCELLED.length())
                                + "; the half-received guest was discarded, the source keeps running it"
                        : "the source aborted the migration: " + reason);
            } catch (ProtocolException e) {
                throw new MigrationException("protocol error from " + stats.peer + " (" + state.describe() + "): " + e.getMessage(), e);
            } catch (IOException e) {
                if (watchdog.fired()) {
                    throw new MigrationException("the source " + stats.peer + " sent nothing for " + limits.readTimeoutMillis()
                            + " ms (" + state.describe() + "); gave up (read timeout)", e);
                }
                throw new MigrationException("connection to the source " + stats.peer + " failed (" + state.describe() + "): " + e.getMessage(), e);
            } catch (Refused e) {
                peerTold = true;
                throw new MigrationException(e.getMessage());
            } catch (RuntimeException e) {
                throw new MigrationException("receiving failed (" + state.describe() + "): " + e, e);
            } finally {
                session.endUrgency();
            }
        } catch (MigrationException e) {
            failed(connection, out, peerTold ? null : e.getMessage());
            throw e;
        } finally {
            stats.bytesReceived = bytesBefore + in.bytesRead();
            stats.totalNanos = System.nanoTime() - stats.startNanos;
        }
    }

    /** Discards the half-received guest and tells the source, if it is still listening. */
    private void failed(Connection connection, FrameBuffer out, String reason) {
        if (reason != null) {
            try {
                out.clear();
                out.abort(reason.length() > 1000 ? reason.substring(0, 1000) : reason);
                out.writeTo(connection.output());
            } catch (IOException | RuntimeException ignored) {
                // the connection is gone; the source sees that instead
            }
        }
        try {
            connection.close();
        } catch (IOException ignored) {
            // nothing left to do with it
        }
    }

    /** The frames of one migration, in order. */
    final class Session {
        void endUrgency() {
            if (urgent != null) {
                urgent.close();
                urgent = null;
            }
        }

        private FrameDecoder in;
        private FrameBuffer out;
        private Connection connection;
        private final PageBatch batch = new PageBatch();
        private String description;
        private MemoryLayout layout;
        private Migratable guest;
        private GuestMemory memory;
        private DirtyBitmap received;
        /**
         * Per page, the PAGES entries it has had (every class, in batch order, as the source counts
         * them): a DUPLICATE reference must name its origin's current version. Null unless the
         * source offered duplicates.
         */
        private int[] versions;
        private final long[] refOrigins = new long[Wire.MAX_BATCH_PAGES];
        private final int[] refVersions = new int[Wire.MAX_BATCH_PAGES];
        private byte[] savedState;
        private java.util.concurrent.FutureTask<Long> digest;
        /** Raised from the sync ACK (the source pauses) until the guest runs here (see PauseUrgency). */
        private PauseUrgency urgent;
        /** Every page folded as it is rebuilt: at COMPLETE, the digest of this memory. */
        private IncrementalDigest rebuilt;
        private boolean verified;
        private boolean strict;
        private boolean postcopyOffered;
        private boolean duplicatesOffered;
        /** From GO of a post-copy until its COMPLETE was checked: the guest runs here with pages missing. */
        private boolean postcopyRunning;
        /** The live rounds before post-copy's (its pages are round {@code postcopyRounds + 1}). */
        private int postcopyRounds;
        /** Opened at setup when the source may end with post-copy; serves the guest's faults after GO. */
        private PostcopyDestination postcopy;
        private long lastEndOfRound;
        private long roundPages;
        private long roundNormal;
        private long roundBytesStart;
        private long roundStart;

        /** The connection this session reads and answers on from now on (a resumed post-copy gets a new one). */
        void attach(FrameDecoder in, FrameBuffer out, Connection connection) {
            this.in = in;
            this.out = out;
            this.connection = connection;
        }

        /** A post-copy held after it broke: its guest and fault half, put back by {@link #resume}. */
        private Migratable heldGuest;
        private PostcopyDestination heldPostcopy;
        /** The held guest's pause, which a thread waiting on a missing page holds up until the page comes. */
        private Thread pausing;

        Migratable run() throws IOException, PeerAbort, Refused, Unconfirmed, PostcopyBroken {
            return guarded(this::frames);
        }

        /**
         * The source reconnected to finish a post-copy: its HANDSHAKE must ask to resume this guest;
         * the answer is POSTCOPY naming the pages still missing here, then the guest runs again (its
         * waiting accesses re-REQUESTed first) while they arrive, up to COMPLETE. Any failure holds
         * the guest again, as the first break did.
         */
        Migratable resume() throws IOException, PeerAbort, Refused, Unconfirmed, PostcopyBroken {
            guest = heldGuest;
            postcopy = heldPostcopy;
            heldGuest = null;
            heldPostcopy = null;
            postcopyRunning = true;
            return guarded(() -> {
                if (in.next() != FrameType.HANDSHAKE) {
                    throw new ProtocolException("a resuming source starts with HANDSHAKE");
                }
                Messages.Handshake hs = in.readHandshake();
                if ((hs.features() & Wire.FEATURE_RESUME) == 0 || !hs.description().equals(description)) {
                    out.clear();
                    out.ack(AckStage.SETUP, false, 0, "this receiver holds an interrupted post-copy of '" + description
                            + "' and accepts only its resumption (by the source that started it)");
                    out.writeTo(connection.output());
                    throw new ProtocolException("a connection that did not resume the held post-copy of '" + description + "'");
                }
                out.clear();
                out.postcopy(postcopy.missing());
                out.writeTo(connection.output());
                postcopy.start(connection);
                // Resumed once its pause is through, off this thread: the pause may be waiting for a
                // page that only the frames read below can bring.
                Migratable g = guest;
                Thread paused = pausing;
                Thread.ofPlatform().daemon().name("postcopy-resume").start(() -> {
                    try {
                        paused.join();
                    } catch (InterruptedException e) {
                        return;
                    }
                    g.resume();
                });
                state = new ReceiveState.Postcopy(postcopyRounds);
                startRound();
                return frames();
            });
        }

        private interface Frames {
            Migratable run() throws IOException, PeerAbort, Refused;
        }

        private Migratable guarded(Frames body) throws IOException, PeerAbort, Refused, Unconfirmed, PostcopyBroken {
            try {
                return body.run();
            } catch (IOException | RuntimeException e) {
                if (postcopyRunning && guest != null) {
                    // The guest ran here with part of its memory: the only copy of what it did since.
                    // Keep it and the pages' fault registration; stop its vCPUs (one waiting on a
                    // missing page stays stopped in its fault; the pause is not waited for).
                    Migratable held = guest;
                    PostcopyDestination pc = postcopy;
                    guest = null;
                    postcopy = null;
                    pc.interrupted();
                    pausing = Thread.ofPlatform().daemon().name("postcopy-pause").start(held::pause);
                    heldGuest = held;
                    heldPostcopy = pc;
                    throw new PostcopyBroken(held, pc, e);
                }
                if (state instanceof ReceiveState.AwaitGo && guest != null) {
                    // Acknowledged but no GO: the source may or may not run its copy. Keep ours,
                    // paused, for the caller (the finally below must not discard it).
                    Migratable held = guest;
                    guest = null;
                    throw new Unconfirmed(held, e);
                }
                throw e;
            } finally {
                if (digest != null) {
                    try {
                        digest.get(); // it reads the guest's memory: let it finish before the memory goes
                    } catch (Exception ignored) {
                        // only waiting
                    }
                }
                if (guest != null) {
                    // A half-received guest, or one the source took back (ABORT after the ACK), must never run: discard it.
                    guest.shutdown();
                }
                if (postcopy != null) {
                    postcopy.close(); // after the guest: a fault still waiting would be zero-filled
                }
            }
        }

        private Migratable frames() throws IOException, PeerAbort, Refused {
            while (true) {
                FrameType t = in.next();
                ReceiveState next = state.on(t);
                ReceiveState before = state;
                state = next;
                switch (t) {
                    case HANDSHAKE -> handshake();
                    case LAYOUT -> layout();
                    case PAGES -> {
                        if (before instanceof ReceiveState.BetweenRounds) {
                            startRound();
                        }
                        if (next instanceof ReceiveState.Postcopy) {
                            postcopyPages();
                        } else {
                            pages();
                        }
                    }
                    case END_OF_ROUND -> {
                        if (before instanceof ReceiveState.BetweenRounds) {
                            startRound();
                        }
                        endOfRound(next instanceof ReceiveState.PostcopyEnded(int rounds) ? rounds
                                : ((ReceiveState.BetweenRounds) next).completed());
                    }
                    case POSTCOPY -> {
                        if (postcopy == null) {
                            throw new ProtocolException("POSTCOPY from a source that did not offer post-copy in its HANDSHAKE");
                        }
                        // These pages changed since the source last sent them: discard them, and let
                        // the guest's accesses fetch them once it runs here. Named first while the
                        // source still runs (most of them), then again in the pause (the rest).
                        long now0 = System.nanoTime();
                        postcopy.name(in.readPostcopy(memory.pageCount()), received);
                        lap(PauseStep.DISCARD, now0);
                    }
                    case STATE -> {
                        if (next instanceof ReceiveState.PostcopyReady ready) {
                            stats.phase(PauseStep.LAST_PAGE_TO_STATE, (System.nanoTime() - lastEndOfRound) / 1000);
                            savedState = in.readState();
                            long restoredAt = lap(PauseStep.STATE_RESTORE, restore(System.nanoTime()));
                            out.ack(AckStage.POSTCOPY, true, 0, "");
                            out.writeTo(connection.output());
                            lap(PauseStep.ACK, restoredAt);
                            state = ready.acknowledged();
                            continue;
                        }
                        long now = System.nanoTime();
                        stats.phase(PauseStep.LAST_PAGE_TO_STATE, (now - lastEndOfRound) / 1000);
                        savedState = in.readState();
                        if (strict) {
                            // Every page is in: hash the whole memory now, while the source hashes its own.
                            startDigest();
                        }
                    }
                    case COMPLETE -> {
                        if (before instanceof ReceiveState.PostcopyEnded) {
                            completePostcopy(((ReceiveState.Completed) next).rounds());
                            state = new ReceiveState.HandedOver(((ReceiveState.Completed) next).rounds());
                            Migratable done = guest;
                            guest = null;
                            return done;
                        }
                        complete(((ReceiveState.Completed) next).rounds());
                        state = ((ReceiveState.Completed) next).acknowledged();
                    }
                    case GO -> {
                        in.readGo();
                        long go = System.nanoTime();
                        // The source has committed: its copy never runs again. Only now may ours.
                        if (next instanceof ReceiveState.Postcopy(int rounds)) {
                            postcopyRounds = rounds;
                            // The pages POSTCOPY named are still to come: faults fetch them meanwhile.
                            postcopy.start(connection);
                            postcopyRunning = true;
                            guest.resume();
                            stats.phase(PauseStep.GO_TO_RUNNING, (System.nanoTime() - go) / 1000);
                            endUrgency();
                            startRound();
                            continue;
                        }
                        guest.resume();
                        stats.phase(PauseStep.GO_TO_RUNNING, (System.nanoTime() - go) / 1000);
                        endUrgency();
                        Migratable done = guest;
                        guest = null;
                        return done;
                    }
                    case SYNC -> {
                        in.readSync();
                        // Everything before it is rebuilt: the source may pause its guest now.
                        out.ack(AckStage.SYNC, true, next instanceof ReceiveState.PostcopyNamed(int rounds) ? rounds
                                : ((ReceiveState.BetweenRounds) next).completed(), "");
                        out.writeTo(connection.output());
                        if (urgent == null) {
                            urgent = PauseUrgency.enter(); // the source pauses now: until its guest runs here
                        }
                    }
                    case ABORT -> throw new PeerAbort(in.readAbort().reason());
                    case ACK, REQUEST -> throw new AssertionError("the state machine admits no " + t);
                }
            }
        }

        private void handshake() throws IOException, Refused {
            Messages.Handshake hs = in.readHandshake();
            description = hs.description();
            stats.description = description;
            verified = (hs.features() & Wire.FEATURE_DIGEST) != 0;
            strict = verified && (hs.features() & Wire.FEATURE_STRICT) != 0;
            stats.verify = !verified ? "off" : strict ? "strict" : "incremental";
            postcopyOffered = (hs.features() & Wire.FEATURE_POSTCOPY) != 0;
            in.accept(hs.features());
            duplicatesOffered = (hs.features() & Wire.FEATURE_DUPLICATES) != 0;
            stats.savingsOffered = (hs.features() & (Wire.FEATURE_DUPLICATES | Wire.FEATURE_LZ4 | Wire.FEATURE_ZSTD)) != 0;
            if (!verified && !limits.allowUnverified()) {
                refuseSetup("the source sends no memory digest (migrate --verify off); this receiver requires one"
                        + " (start it with --allow-unverified to accept unverified migrations)");
            }
            if ((hs.features() & Wire.FEATURE_RESUME) != 0) {
                refuseSetup("no interrupted post-copy is held here to resume (was this receiver restarted, or is it another one?)");
            }
            if (!factories.accepts(description)) {
                refuseSetup("this receiver does not accept '" + GuestFactories.kindOf(description) + "' guests (it accepts: " + factories.kinds() + ")");
            }
        }

        private void layout() throws IOException, Refused {
            layout = in.readLayout();
            stats.totalBytes = layout.totalBytes();
            if (layout.totalBytes() > limits.maxGuestMemory()) {
                refuseSetup("guest memory of " + layout.totalBytes() + " bytes exceeds this receiver's limit of "
                        + limits.maxGuestMemory() + " bytes (receive --max-memory)");
            }
            try {
                guest = factories.create(description, layout);
            } catch (IllegalArgumentException e) {
                refuseSetup("cannot build the guest '" + description + "': " + e.getMessage());
            }
            memory = guest.memory();
            if (!memory.layout().equals(layout)) {
                refuseSetup("the guest built for '" + description + "' has a different memory layout than the source's");
            }
            received = new DirtyBitmap(memory.pageCount());
            versions = duplicatesOffered ? new int[Math.toIntExact(memory.pageCount())] : null;
            rebuilt = verified ? new IncrementalDigest(memory.pageCount()) : null;
            if (postcopyOffered) {
                try {
                    postcopy = PostcopyDestination.open(memory);
                } catch (io.d3vm.sys.SysException e) {
                    refuseSetup("this destination cannot serve post-copy: " + e.getMessage() + " (post-copy fetches pages on fault"
                            + " through " + io.d3vm.sys.Userfaultfd.DEVICE + ", which needs root; migrate without --postcopy)");
                }
            }
            out.ack(AckStage.SETUP, true, 0, "");
            out.writeTo(connection.output());
            stats.setupNanos = System.nanoTime() - stats.startNanos;
        }

        private void refuseSetup(String why) throws IOException, Refused {
            try {
                out.clear();
                out.ack(AckStage.SETUP, false, 0, why);
                out.writeTo(connection.output());
            } catch (IOException ignored) {
                // the refusal below is what matters
            }
            throw new Refused("refused the migration: " + why);
        }

        private void startRound() {
            roundPages = 0;
            roundNormal = 0;
            roundBytesStart = in.bytesRead();
            roundStart = System.nanoTime();
        }

        private void pages() throws IOException {
            in.readPages(batch, layout);
            MemoryRegion region = memory.regions().get(batch.range);
            MemorySegment host = region.host();
            long page = batch.firstPage;
            long off = (page - batch.rangeFirstPage) << Wire.PAGE_SHIFT;
            for (int r = 0; r < batch.runCount; r++) {
                int n = batch.runPages[r];
                int cls = batch.runClass[r];
                long bytes = (long) n << Wire.PAGE_SHIFT;
                switch (cls) {
                    case Wire.CLASS_NORMAL -> {
                        in.readBody(host, off, bytes);
                        markReceived(page, n);
                        if (rebuilt != null) {
                            // Hashed from guest memory, after it was written: the digest covers what this side holds.
                            for (int i = 0; i < n; i++) {
                                rebuilt.page(page + i, MemoryDigest.hashPage(host, off + ((long) i << Wire.PAGE_SHIFT)));
                            }
                        }
                    }
                    case Wire.CLASS_UNIFORM -> {
                        long pattern = batch.runPattern[r];
                        if (pattern == 0) {
                            clearReceived(host, off, page, n);
                            fold(page, n, 0);
                        } else {
                            for (long o = off, end = off + bytes; o < end; o += 8) {
                                host.set(WORD, o, pattern);
                            }
                            markReceived(page, n);
                            fold(page, n, pattern);
                        }
                    }
                    case Wire.CLASS_DUPLICATE -> duplicates(host, off, page, n);
                    default -> { // ZERO, UNPOPULATED
                        clearReceived(host, off, page, n);
                        fold(page, n, 0);
                    }
                }
                if (versions != null && cls != Wire.CLASS_DUPLICATE) { // a DUPLICATE run counts its pages as it resolves them
                    for (int i = 0; i < n; i++) {
                        versions[(int) (page + i)]++;
                    }
                }
                stats.pagesByClass[cls] += n;
                page += n;
                off += bytes;
            }
            roundPages += batch.pageCount;
            roundNormal += batch.normalPages;
        }

        /**
         * A DUPLICATE run: each page is copied here from the origin its reference names, which must
         * hold content received in this migration, in exactly the version the source counted.
         * Anything else is a protocol error (the source's view of this memory is wrong: abort, and
         * the source resumes).
         */
        private void duplicates(MemorySegment host, long off, long page, int n) throws IOException {
            in.readReferences(n, memory.pageCount(), refOrigins, refVersions);
            for (int i = 0; i < n; i++) {
                long origin = refOrigins[i];
                long target = page + i;
                if (versions[(int) origin] != refVersions[i] || !received.get(origin)) {
                    throw new ProtocolException("DUPLICATE reference for page " + target + " names page " + origin + " in version "
                            + Integer.toUnsignedString(refVersions[i]) + ", but this destination holds "
                            + (received.get(origin) ? "version " + Integer.toUnsignedString(versions[(int) origin]) : "no received content")
                            + " there");
                }
                long to = off + ((long) i << Wire.PAGE_SHIFT);
                if (origin != target) {
                    MemoryRegion from = memory.regionOfPage(origin);
                    MemorySegment.copy(from.host(), (origin - from.firstPageIndex()) << Wire.PAGE_SHIFT, host, to, Wire.PAGE_SIZE);
                }
                received.set(target);
                versions[(int) target]++;
                if (rebuilt != null) {
                    rebuilt.page(target, MemoryDigest.hashPage(host, to));
                }
            }
        }

        private void fold(long page, int n, long word) {
            if (rebuilt == null) {
                return;
            }
            if (word == 0) {
                rebuilt.zero(page, n);
            } else {
                rebuilt.uniform(page, n, word);
            }
        }

        private void markReceived(long page, int n) {
            for (int i = 0; i < n; i++) {
                received.set(page + i);
            }
        }

        /** The received-map rule: only pages that hold received content are cleared. */
        private void clearReceived(MemorySegment host, long off, long page, int n) {
            long end = page + n;
            for (long p = received.nextSet(page, end); p >= 0; p = received.nextSet(p + 1, end)) {
                host.asSlice(off + ((p - page) << Wire.PAGE_SHIFT), Wire.PAGE_SIZE).fill((byte) 0);
                received.clear(p);
                stats.pagesCleared++;
            }
        }

        private void endOfRound(int round) throws IOException {
            Messages.EndOfRound eor = in.readEndOfRound();
            if (eor.round() != round) {
                throw new ProtocolException("END_OF_ROUND for round " + eor.round() + ", expected round " + round);
            }
            if (eor.pages() != roundPages || eor.normalPages() != roundNormal) {
                throw new ProtocolException("END_OF_ROUND " + round + " counts " + eor.pages() + " pages (" + eor.normalPages()
                        + " normal) but " + roundPages + " (" + roundNormal + " normal) arrived");
            }
            long bytes = in.bytesRead() - roundBytesStart;
            lastEndOfRound = System.nanoTime();
            stats.roundRecords.add(new RoundRecord(round, roundPages, roundNormal, bytes, (lastEndOfRound - roundStart) / 1000, 0));
            stats.rounds = round;
        }

        private void complete(int rounds) throws IOException, Refused {
            Messages.Completion c = in.readComplete();
            if (c.rounds() != rounds) {
                throw new ProtocolException("COMPLETE claims " + c.rounds() + " rounds, " + rounds + " arrived");
            }
            stats.bytesReceived = in.bytesRead();
            stats.packedBytes = in.packedBytes();
            stats.inflatedBytes = in.inflatedBytes();
            long t = System.nanoTime();
            if (verified) {
                stats.sourceDigest = c.digest();
                stats.digest = rebuilt.value();
                if (strict) {
                    long whole = joinDigest();
                    if (whole != stats.digest) {
                        refuseCompletion(String.format(java.util.Locale.ROOT, "this destination's memory hashes to 0x%016x but the pages it"
                                + " rebuilt fold to 0x%016x (a reconstruction fault here; the guest is discarded, the source keeps running)",
                                whole, stats.digest));
                    }
                }
                stats.digestMatch = stats.digest == c.digest();
                if (!stats.digestMatch) {
                    refuseCompletion("memory digest mismatch: source 0x" + Long.toHexString(c.digest()) + ", destination 0x"
                            + Long.toHexString(stats.digest) + (strict ? " (strict: the source hashed its whole paused memory, so a write"
                            + " its dirty log missed shows here too)" : "") + " (the guest is discarded; the source keeps running)");
                }
            }
            t = lap(PauseStep.DIGEST, t);
            t = lap(PauseStep.STATE_RESTORE, restore(t));
            out.ack(AckStage.COMPLETION, true, stats.digest, "");
            out.writeTo(connection.output());
            lap(PauseStep.ACK, t);
            // Not resumed here: the source may not get this ACK and then resumes its own copy. GO decides.
        }

        /** Restores the saved state; returns {@code from}, the time the caller started it at. */
        private long restore(long from) throws Refused {
            try {
                guest.restoreState(savedState);
            } catch (RuntimeException e) {
                refuseCompletion("cannot restore the guest's state: " + e.getMessage());
            }
            return from;
        }

        /** A batch of post-copy: into place through the userfaultfd, waking any access waiting on it. */
        private void postcopyPages() throws IOException {
            in.readPages(batch, layout);
            postcopy.install(batch, in, memory.regions().get(batch.range), rebuilt);
            for (int r = 0; r < batch.runCount; r++) {
                stats.pagesByClass[batch.runClass[r]] += batch.runPages[r];
            }
            roundPages += batch.pageCount;
            roundNormal += batch.normalPages;
        }

        /**
         * COMPLETE after post-copy: every page named is here. The guest has been running, so the
         * digest compared is the one folded page by page as delivered — the memory at the pause.
         * A mismatch cannot stop a guest that already ran; it is refused and the guest discarded,
         * while the source keeps its complete paused copy.
         */
        private void completePostcopy(int rounds) throws IOException, Refused {
            Messages.Completion c = in.readComplete();
            if (c.rounds() != rounds) {
                throw new ProtocolException("COMPLETE claims " + c.rounds() + " rounds, " + rounds + " arrived");
            }
            long left = postcopy.missingPages();
            if (left != 0) {
                throw new ProtocolException("COMPLETE with " + left + " pages named by POSTCOPY never sent");
            }
            postcopy.finish();
            postcopyRunning = false;
            stats.postcopy = postcopy.record();
            stats.bytesReceived = in.bytesRead();
            if (verified) {
                stats.sourceDigest = c.digest();
                stats.digest = rebuilt.value();
                stats.digestMatch = stats.digest == c.digest();
                if (!stats.digestMatch) {
                    guest.pause();
                    refuseCompletion("memory digest mismatch after post-copy: source 0x" + Long.toHexString(c.digest())
                            + ", destination 0x" + Long.toHexString(stats.digest) + " (the guest here is discarded; the source keeps its"
                            + " complete paused copy)");
                }
            }
            out.ack(AckStage.COMPLETION, true, stats.digest, "");
            out.writeTo(connection.output());
        }

        private long lap(PauseStep name, long from) {
            long now = System.nanoTime();
            stats.phase(name, (now - from) / 1000);
            return now;
        }

        private void startDigest() {
            digest = new java.util.concurrent.FutureTask<>(() -> {
                long t0 = System.nanoTime();
                long d = MemoryDigest.compute(memory, digestThreads);
                stats.digestNanos = System.nanoTime() - t0;
                return d;
            });
            Thread.ofPlatform().daemon().name("destination-digest").start(digest);
        }

        private long joinDigest() throws IOException {
            try {
                return digest.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while computing the digest", e);
            } catch (java.util.concurrent.ExecutionException e) {
                throw new IllegalStateException("computing the memory digest failed: " + e.getCause(), e.getCause());
            }
        }

        private void refuseCompletion(String why) throws Refused {
            try {
                out.clear();
                out.ack(AckStage.COMPLETION, false, stats.digest, why);
                out.writeTo(connection.output());
            } catch (IOException ignored) {
                // the source times out waiting and resumes anyway
            }
            throw new Refused(why);
        }
    }

    /** The completion ACK went out but GO did not come; carries the verified, paused guest. */
    private static final class Unconfirmed extends Exception {
        private static final long serialVersionUID = 1L;
        private final transient Migratable guest;

        Unconfirmed(Migratable guest, Exception cause) {
            super(cause.getMessage(), cause, false, false);
            this.guest = guest;
        }
    }

    /** Post-copy broke after GO; carries the guest that ran here and its fault-serving half. */
    private static final class PostcopyBroken extends Exception {
        private static final long serialVersionUID = 1L;
        private final transient Migratable guest;
        private final transient PostcopyDestination postcopy;

        PostcopyBroken(Migratable guest, PostcopyDestination postcopy, Exception cause) {
            super(cause.getMessage(), cause, false, false);
            this.guest = guest;
            this.postcopy = postcopy;
        }
    }

    /** The source sent ABORT. */
    private static final class PeerAbort extends Exception {
        private static final long serialVersionUID = 1L;

        PeerAbort(String reason) {
            super(reason, null, false, false);
        }
    }

    /** This receiver refused (limits, unknown guest, digest); the peer has been told. */
    private static final class Refused extends Exception {
        private static final long serialVersionUID = 1L;

        Refused(String message) {
            super(message, null, false, false);
        }
    }
}
