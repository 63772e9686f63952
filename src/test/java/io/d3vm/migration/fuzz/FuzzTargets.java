package io.d3vm.migration.fuzz;

import io.d3vm.testing.StubGuest;
import io.d3vm.memory.DirtyBitmap;
import io.d3vm.memory.GuestMemory;
import io.d3vm.memory.MemoryLayout;
import io.d3vm.memory.MemoryRegion;
import io.d3vm.migration.MigrationException;
import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.migration.recv.HandoverUnconfirmedException;
import io.d3vm.migration.recv.MigrationReceiver;
import io.d3vm.migration.recv.ReceiverLimits;
import io.d3vm.migration.wire.FrameDecoder;
import io.d3vm.migration.wire.FrameType;
import io.d3vm.migration.wire.PageBatch;
import io.d3vm.migration.wire.ProtocolException;
import io.d3vm.migration.wire.TestStreams;
import io.d3vm.migration.wire.Wire;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The two fuzz targets, shared by the Jazzer fuzz tests ({@link WireFuzzTest}) and the seeded CI
 * driver ({@link WireFuzzRegressionTest}). Each takes arbitrary bytes as a migration stream and
 * throws {@link AssertionError} when the code under test breaks a rule:
 * <ul>
 * <li>nothing but {@link ProtocolException} escapes the decoder; the receiver fails only with a
 *     {@link MigrationException} whose cause is a {@link ProtocolException} or none (a refusal);</li>
 * <li>no byte outside guest memory changes (guard segments around every range stay intact);</li>
 * <li>a guest that was not completed is never resumed, and is shut down.</li>
 * </ul>
 */
final class FuzzTargets {
    private FuzzTargets() {}

    /** Guest kind the receiver target accepts; seeds describe their guest as {@code test:fuzz}. */
    static final String KIND = "test";
    /** Receiver limits for fuzzing: small guests so every layout the fuzzer finds is cheap to build. */
    static final ReceiverLimits LIMITS = ReceiverLimits.defaults().withMaxGuestMemory(1 << 20).withReadTimeoutMillis(60_000);
    /** The decoder target checks PAGES against this layout: two ranges with a hole between them. */
    static final MemoryLayout DECODER_LAYOUT = MemoryLayout.of(0, 16 * 4096L, 1L << 20, 16 * 4096L);

    enum Outcome { PROTOCOL_ERROR, REFUSED, COMPLETED, UNCONFIRMED, CLEAN_END }

    /** Decodes frames until the stream ends or is refused, writing page data into guarded memory. */
    static Outcome decode(byte[] data) {
        try (GuardedMemory mem = new GuardedMemory(DECODER_LAYOUT)) {
            Outcome o = decodeInto(data, mem.memory);
            if (!mem.guardsIntact()) {
                throw new AssertionError("the decoder wrote outside guest memory");
            }
            return o;
        }
    }

    private static Outcome decodeInto(byte[] data, GuestMemory memory) {
        FrameDecoder in = new FrameDecoder(TestStreams.channel(data), Wire.MIN_MAX_FRAME);
        PageBatch batch = new PageBatch();
        long[] origins = new long[Wire.MAX_BATCH_PAGES];
        int[] versions = new int[Wire.MAX_BATCH_PAGES];
        long pages = DECODER_LAYOUT.totalBytes() / Wire.PAGE_SIZE; // a POSTCOPY bitmap is checked against the stream's layout
        try {
            for (int frames = 0; frames < 10_000; frames++) {
                FrameType t = in.next();
                switch (t) {
                    case HANDSHAKE -> in.accept(in.readHandshake().features()); // duplicates and codecs as offered
                    case LAYOUT -> pages = in.readLayout().totalBytes() / Wire.PAGE_SIZE;
                    case PAGES -> {
                        in.readPages(batch, DECODER_LAYOUT);
                        MemoryRegion region = memory.regions().get(batch.range);
                        long off = (batch.firstPage - batch.rangeFirstPage) << Wire.PAGE_SHIFT;
                        for (int r = 0; r < batch.runCount; r++) {
                            long bytes = (long) batch.runPages[r] << Wire.PAGE_SHIFT;
                            if (batch.runClass[r] == Wire.CLASS_NORMAL) {
                                in.readBody(region.host(), off, bytes);
                            } else if (batch.runClass[r] == Wire.CLASS_DUPLICATE) {
                                in.readReferences(batch.runPages[r], DECODER_LAYOUT.totalBytes() / Wire.PAGE_SIZE, origins, versions);
                            }
                            off += bytes;
                        }
                        if (in.bodyLeft() != 0) {
                            throw new AssertionError("a validated PAGES batch left " + in.bodyLeft() + " body bytes unread");
                        }
                    }
                    case END_OF_ROUND -> in.readEndOfRound();
                    case STATE -> in.readState();
                    case COMPLETE -> in.readComplete();
                    case ACK -> in.readAck();
                    case ABORT -> in.readAbort();
                    case GO -> in.readGo();
                    case SYNC -> in.readSync();
                    case POSTCOPY -> in.readPostcopy(pages);
                    case REQUEST -> in.readRequest(pages);
                }
            }
            return Outcome.CLEAN_END;
        } catch (ProtocolException e) {
            return Outcome.PROTOCOL_ERROR;
        } catch (IOException e) {
            throw new AssertionError("the decoder let a non-protocol IOException escape: " + e, e);
        }
    }

    /** Runs the receiver's state machine over the bytes, with every guest built over guarded memory. */
    static Outcome receive(byte[] data) {
        List<FuzzGuest> built = new ArrayList<>();
        GuestFactories factories = new GuestFactories().register(KIND, (desc, layout) -> {
            FuzzGuest g = new FuzzGuest(new GuardedMemory(layout));
            built.add(g);
            return g;
        });
        MigrationReceiver receiver = new MigrationReceiver(factories, LIMITS);
        TestStreams.Replay connection = new TestStreams.Replay(data);
        Outcome outcome;
        Migratable result = null;
        Migratable paused = null;
        try {
            result = receiver.receive(connection);
            outcome = Outcome.COMPLETED;
        } catch (HandoverUnconfirmedException e) {
            // Verified and acknowledged, but no GO: kept paused, never resumed, never discarded.
            paused = e.guest();
            outcome = Outcome.UNCONFIRMED;
        } catch (MigrationException e) {
            Throwable c = e.getCause();
            if (c != null && !(c instanceof ProtocolException)) {
                throw new AssertionError("the receiver failed with something other than a protocol error: " + e, e);
            }
            outcome = c == null ? Outcome.REFUSED : Outcome.PROTOCOL_ERROR;
        }
        try {
            for (FuzzGuest g : built) {
                if (!g.guarded.guardsIntact()) {
                    throw new AssertionError("the receiver wrote outside guest memory");
                }
                if (g == paused) {
                    if (g.resumed || g.shutdown) {
                        throw new AssertionError("a guest whose hand-over was unconfirmed was resumed or discarded");
                    }
                } else if (g != result) {
                    if (g.resumed) {
                        throw new AssertionError("a guest that was not completed was resumed");
                    }
                    if (!g.shutdown) {
                        throw new AssertionError("a half-received guest was not discarded");
                    }
                }
            }
            if (result != null && !((FuzzGuest) result).resumed) {
                throw new AssertionError("a completed guest was not resumed");
            }
        } finally {
            built.forEach(g -> g.guarded.close());
        }
        return outcome;
    }

    /** A destination guest over guarded memory that records what the receiver did with it. */
    static final class FuzzGuest extends StubGuest {
        final GuardedMemory guarded;

        FuzzGuest(GuardedMemory guarded) {
            super(guarded.memory, KIND + ":fuzz");
            this.guarded = guarded;
        }

        @Override
        public void restoreState(byte[] state) {
            if (state.length > 0 && state[0] == 'X') {
                throw new IllegalArgumentException("state the guest cannot take"); // exercises the refusal path
            }
            super.restoreState(state);
        }
    }
}
