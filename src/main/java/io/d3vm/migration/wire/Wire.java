package io.d3vm.migration.wire;

/**
 * The d3vm migration protocol, version 1: layouts and limits. Every multi-byte field is
 * little-endian; every frame is an 8-byte header followed by a body of {@code length} bytes.
 * Reserved fields are written as zero and must read as zero (so a later version can use them).
 *
 * <pre>
 * Frame header (8 bytes)
 *  0               2               4                               8
 *  +---------------+---------------+-------------------------------+
 *  | type u16      | flags u16 (0) | body length u32               |
 *  +---------------+---------------+-------------------------------+
 *
 * HANDSHAKE body (24 + n)                          source → destination, first frame
 *  0                               8       10      12              16              20              24
 *  | magic u64 "D3VMMIG1"          | ver u16 | rsv | features u32   | desc len n u32| reserved u32  | desc (UTF-8, n bytes)
 *
 * LAYOUT body (8 + 16 * count)                     source → destination, after HANDSHAKE
 *  0               4               8
 *  | count u32     | reserved u32  | ranges: count × ( guest-physical start u64 | size u64 )
 *
 * PAGES body (16 + 16 * runs + 4096 * normal pages)
 *  0                               8               12              16
 *  | first page u64 (global index) | page count u32| run count u32 | runs … | page data …
 *  run (16 bytes), covering the batch in order, counts summing to the page count:
 *  0               4       5               8                               16
 *  | pages u32     | class | reserved (0)  | pattern u64 (UNIFORM only, else 0)
 *  page data: for each run in order, a NORMAL run's pages (4096 bytes each) and a DUPLICATE run's
 *  references (16 bytes each, FEATURE_DUPLICATES); other classes carry none. A batch stays inside
 *  one memory range and holds at most {@link #MAX_BATCH_PAGES} pages.
 *  reference (16 bytes): the page's content is that of another page the destination holds
 *  0                               8               12              16
 *  | origin page u64 (global index)| origin version u32 | reserved  |
 *  The version counts the PAGES entries for the origin page this migration, both ends alike (every
 *  class counts, the page itself included, in batch order): a reference names content exactly as
 *  the destination holds it, and one whose origin was rewritten since is a protocol error.
 *
 * PAGES with header flag COMPRESSED (FEATURE_LZ4 or FEATURE_ZSTD): the header, runs as above, then
 *  0               4               8
 *  | codec u32     | raw length u32| the page data above, compressed by the codec (the rest of the body)
 *  codec 1 = LZ4 block, 2 = zstd frame; raw length must equal what the runs describe, and the data
 *  must inflate to exactly that. A batch whose data would not shrink is sent uncompressed.
 *
 * END_OF_ROUND body (24)
 *  0               4               8                               16                              24
 *  | round u32     | reserved u32  | pages in round u64            | NORMAL pages in round u64     |
 *
 * STATE body (n): the opaque bytes of Migratable.saveState, whole.
 *
 * COMPLETE body (16)
 *  0                               8               12              16
 *  | memory digest u64             | rounds u32    | reserved u32  |
 *
 * ACK body (24 + n)                                destination → source
 *  0               4               8                               16              20              24
 *  | stage u32     | status u32    | destination digest u64        | msg len n u32 | reserved u32  | message (UTF-8)
 *  stage ({@link AckStage}) 1 = setup (after LAYOUT), 2 = completion (after COMPLETE), 3 = sync (after SYNC; the
 *  digest field holds the number of rounds rebuilt); status 0 = ok, 1 = refused.
 *
 * SYNC body (0)                                    source → destination, between rounds
 *  (empty; the destination answers ACK(sync) once it has rebuilt everything sent before it)
 *
 * ABORT body (8 + n)                               either direction
 *  0               4               8
 *  | reason len n  | reserved u32  | reason (UTF-8)
 *
 * GO body (0)                                      source → destination, after a positive ACK(completion)
 *  (empty: the header alone; any other length is a protocol error)
 *
 * POSTCOPY body (8 + 8 * ceil(pages / 64))         source → destination, in the pause (FEATURE_POSTCOPY)
 *  0                               8
 *  | pages u64 (the layout's count)| bitmap words u64 …: bit i of word w set = page 64w + i is not
 *  current at the destination (dirtied since it was last sent); bits past the page count are zero
 *
 * REQUEST body (8)                                 destination → source, during post-copy
 *  0                               8
 *  | page u64 (global index)       |  the guest is waiting on this page: send it before the stream
 * </pre>
 *
 * Post-copy order (source): the live rounds as above, then twice POSTCOPY + SYNC while the guest
 * still runs here (first the pages the last round dirtied, then those dirtied while the destination
 * discarded them: it discards what each names before it answers the SYNC); in the pause POSTCOPY
 * once more with the final set (each set a superset of the one before), STATE, then
 * wait for ACK(postcopy); on a positive one commit and send GO (the destination resumes at once).
 * Then the pages POSTCOPY named, each exactly once — REQUESTed ones first — as PAGES of one more
 * round, its END_OF_ROUND, and COMPLETE (the digest of everything sent); the destination answers
 * ACK(completion) once every page is in and the digest matched.
 *
 * Order (source): HANDSHAKE, LAYOUT, then wait for ACK(setup); then per round PAGES… END_OF_ROUND;
 * after the last live round SYNC, and wait for ACK(sync) before pausing the guest (socket buffers
 * hold megabytes: without it the destination was still rebuilding them inside the pause, about
 * 50 ms of the 1 GiB {@code verify} guest's); then the final round, STATE, COMPLETE, and wait for ACK(completion); on a positive one, GO. ABORT may replace any
 * frame before the positive ACK(completion) was read; after it the source only sends GO.
 *
 * <p>The three-message hand-over: COMPLETE → ACK(completion, ok) → GO. The destination resumes only
 * on GO; the source commits (never resumes again) on reading the positive ACK. A lost ACK or GO
 * leaves the guest paused on one or both sides, never running on two.
 */
public final class Wire {
    private Wire() {}

    public static final long MAGIC = 0x31_47_49_4D_4D_56_33_44L; // "D3VMMIG1" read as a little-endian u64
    /** 2: SYNC and ACK(sync) before the pause. */
    public static final int VERSION = 2;

    /**
     * Handshake feature bit: COMPLETE carries the source's memory digest (io.d3vm.memory.MemoryDigest:
     * a sum of position-keyed page hashes, kept page by page as pages are sent), which the
     * destination must find equal to its own, kept page by page as pages are rebuilt.
     */
    public static final int FEATURE_DIGEST = 1;
    /**
     * With {@link #FEATURE_DIGEST}: COMPLETE's digest is of the source's whole paused memory, hashed
     * inside the pause, and the destination also hashes its whole memory ({@code --verify strict}).
     */
    public static final int FEATURE_STRICT = 2;
    /**
     * Handshake feature bit: the source may end with post-copy (POSTCOPY, REQUEST): the destination
     * must be able to fetch pages on fault (userfaultfd) or refuse at setup.
     */
    public static final int FEATURE_POSTCOPY = 4;
    /**
     * Handshake feature bit: not a new migration but the resumption of a post-copy that broke after
     * GO; the destination that holds that guest answers with POSTCOPY naming the pages it still lacks
     * (a destination→source POSTCOPY), then the stream and COMPLETE follow as in post-copy.
     */
    public static final int FEATURE_RESUME = 8;
    /**
     * Handshake feature bit: PAGES may carry DUPLICATE runs, references to pages the destination
     * already holds ({@link #REF_SIZE}); both ends keep a version per page.
     */
    public static final int FEATURE_DUPLICATES = 16;
    /** Handshake feature bit: PAGES may be compressed with LZ4 ({@link #CODEC_LZ4}). */
    public static final int FEATURE_LZ4 = 32;
    /** Handshake feature bit: PAGES may be compressed with zstd ({@link #CODEC_ZSTD}). */
    public static final int FEATURE_ZSTD = 64;
    public static final int KNOWN_FEATURES = FEATURE_DIGEST | FEATURE_STRICT | FEATURE_POSTCOPY | FEATURE_RESUME
            | FEATURE_DUPLICATES | FEATURE_LZ4 | FEATURE_ZSTD;

    /** Header flag, PAGES only: the page data is compressed (see the layout above). */
    public static final int FLAG_COMPRESSED = 1;
    public static final int COMPRESSED_FIXED = 8;
    public static final int CMP_CODEC = 0;
    public static final int CMP_RAW = 4;
    public static final int CODEC_LZ4 = 1;
    public static final int CODEC_ZSTD = 2;

    public static final int PAGE_SIZE = 4096;
    public static final int PAGE_SHIFT = 12;

    public static final int HEADER_SIZE = 8;
    public static final int HDR_TYPE = 0;
    public static final int HDR_FLAGS = 2;
    public static final int HDR_LENGTH = 4;

    public static final int HANDSHAKE_FIXED = 24;
    public static final int HS_MAGIC = 0;
    public static final int HS_VERSION = 8;
    public static final int HS_RESERVED = 10;
    public static final int HS_FEATURES = 12;
    public static final int HS_DESC_LEN = 16;
    public static final int HS_RESERVED2 = 20;

    public static final int LAYOUT_FIXED = 8;
    public static final int LAYOUT_COUNT = 0;
    public static final int LAYOUT_RESERVED = 4;
    public static final int RANGE_START = 0;
    public static final int RANGE_BYTES = 8;
    public static final int RANGE_SIZE = 16;
    public static final int MAX_RANGES = 64;

    public static final int PAGES_FIXED = 16;
    public static final int PAGES_FIRST = 0;
    public static final int PAGES_COUNT = 8;
    public static final int PAGES_RUNS = 12;
    public static final int RUN_SIZE = 16;
    public static final int RUN_PAGES = 0;
    public static final int RUN_CLASS = 4;
    public static final int RUN_PATTERN = 8;
    public static final int MAX_BATCH_PAGES = 512;
    public static final int REF_SIZE = 16;
    public static final int REF_PAGE = 0;
    public static final int REF_VERSION = 8;
    public static final int REF_RESERVED = 12;
    /** Largest PAGES frame, header included: a batch of MAX_BATCH_PAGES NORMAL pages described run by run. */
    public static final int MAX_PAGES_FRAME = HEADER_SIZE + PAGES_FIXED + MAX_BATCH_PAGES * RUN_SIZE + MAX_BATCH_PAGES * PAGE_SIZE;

    public static final int END_OF_ROUND_SIZE = 24;
    public static final int EOR_ROUND = 0;
    public static final int EOR_RESERVED = 4;
    public static final int EOR_PAGES = 8;
    public static final int EOR_NORMAL = 16;

    public static final int COMPLETE_SIZE = 16;
    public static final int CPL_DIGEST = 0;
    public static final int CPL_ROUNDS = 8;
    public static final int CPL_RESERVED = 12;

    public static final int ACK_FIXED = 24;
    public static final int ACK_STAGE = 0;
    public static final int ACK_STATUS = 4;
    public static final int ACK_DIGEST = 8;
    public static final int ACK_MSG_LEN = 16;
    public static final int ACK_RESERVED = 20;
    public static final int STATUS_OK = 0;
    public static final int STATUS_REFUSED = 1;

    public static final int ABORT_FIXED = 8;
    public static final int ABORT_LEN = 0;
    public static final int ABORT_RESERVED = 4;

    public static final int POSTCOPY_FIXED = 8;
    public static final int POSTCOPY_PAGES = 0;
    public static final int REQUEST_SIZE = 8;
    public static final int REQUEST_PAGE = 0;

    public static final int GO_SIZE = 0;
    public static final int SYNC_SIZE = 0;

    /**
     * How the reason of an ABORT begins when the source's operator cancelled (migrate-cancel, Ctrl-C,
     * SIGTERM), so that the destination says "the source cancelled" rather than reporting a failure.
     */
    public static final String ABORT_CANCELLED = "migration cancelled";

    /** Longest description, message or reason, in UTF-8 bytes. */
    public static final int MAX_TEXT_BYTES = 4096;

    /** Default and smallest accepted maximum frame body length (a full PAGES batch must fit). */
    public static final int DEFAULT_MAX_FRAME = 8 << 20;
    public static final int MIN_MAX_FRAME = MAX_PAGES_FRAME;

    /** Page class codes in runs: the ordinals of {@link io.d3vm.migration.detect.PageClass}. */
    public static final int CLASS_NORMAL = 0;
    public static final int CLASS_ZERO = 1;
    public static final int CLASS_UNIFORM = 2;
    public static final int CLASS_UNPOPULATED = 3;
    /** Content the destination already holds in another page: the run's data are references (FEATURE_DUPLICATES). */
    public static final int CLASS_DUPLICATE = 4;
    public static final int CLASS_COUNT = 5;

    /**
     * The runs a batch is encoded in ({@link FrameBuffer#pages}): maximal stretches of pages of one
     * class and, for UNIFORM, one pattern, in order.
     */
    public static int runCount(int count, byte[] classes, long[] patterns) {
        int runs = 0;
        for (int i = 0; i < count; i++) {
            if (i == 0 || classes[i] != classes[i - 1] || (classes[i] == CLASS_UNIFORM && patterns[i] != patterns[i - 1])) {
                runs++;
            }
        }
        return runs;
    }

    /** The bytes a PAGES frame of {@code runs} runs and {@code normalPages} pages of data takes on the wire, header included. */
    public static long pagesFrameBytes(int runs, int normalPages) {
        return HEADER_SIZE + PAGES_FIXED + (long) runs * RUN_SIZE + (long) normalPages * PAGE_SIZE;
    }

    /** The uncompressed page data of a batch with these NORMAL and DUPLICATE page counts. */
    public static long pageDataBytes(long normalPages, long duplicatePages) {
        return normalPages * PAGE_SIZE + duplicatePages * REF_SIZE;
    }
}
