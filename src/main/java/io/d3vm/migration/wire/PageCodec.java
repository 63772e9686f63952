package io.d3vm.migration.wire;

import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;
import net.jpountz.lz4.LZ4Compressor;
import net.jpountz.lz4.LZ4Exception;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4SafeDecompressor;

import java.nio.ByteBuffer;
import java.util.Locale;

/**
 * The compressors of PAGES data ({@link Wire#FLAG_COMPRESSED}), each a kept library: LZ4 blocks
 * (lz4-java) and zstd frames (zstd-jni). An instance holds its library's contexts and belongs to
 * one thread. Decompression is the safe kind: malformed input is a {@link ProtocolException}, and
 * output never exceeds the room given.
 */
public abstract sealed class PageCodec implements AutoCloseable permits PageCodec.Lz4, PageCodec.Zstd {
    /** zstd's level for pages to start at: its fastest standard level. */
    public static final int ZSTD_LEVEL = 1;

    /** A codec for the wire code {@link Wire#CODEC_LZ4} or {@link Wire#CODEC_ZSTD}, or null. */
    public static PageCodec ofCode(int code) {
        return switch (code) {
            case Wire.CODEC_LZ4 -> new Lz4();
            case Wire.CODEC_ZSTD -> new Zstd();
            default -> null;
        };
    }

    /** A codec by its command-line name ({@code lz4}, {@code zstd}). */
    public static PageCodec ofName(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "lz4" -> new Lz4();
            case "zstd" -> new Zstd();
            default -> throw new IllegalArgumentException("unknown codec '" + name + "': use lz4 or zstd");
        };
    }

    /** The wire code of this codec. */
    public abstract int code();

    /** The handshake feature bit that allows it. */
    public abstract int feature();

    public abstract String name();

    /**
     * The levels this codec can be asked for with {@link #level}, fastest first (one for a codec
     * without levels). zstd 1, 3 and 6 compressed the idle Debian image's pages to 34.5, 32.7 and
     * 31.9 % at 693, 484 and 180 MB/s here (2 MiB batches, one thread).
     */
    public int[] levels() {
        return new int[] {0};
    }

    /**
     * The relative speed of each of {@link #levels} (the first 1.0): how much longer the next level
     * up takes is {@code speeds[i] / speeds[i + 1]}. Measured (above), not assumed.
     */
    public double[] levelSpeeds() {
        return new double[] {1.0};
    }

    /** Compresses from now on at {@code level}, one of {@link #levels}. */
    public void level(int level) {
    }

    /**
     * Compresses {@code length} bytes of {@code src} at {@code srcOffset} into {@code dst} at
     * {@code dstOffset}, using at most {@code room} bytes; returns the compressed length, or -1 when
     * the result would not fit in {@code room} (the caller sends the data raw).
     */
    public abstract int compress(ByteBuffer src, int srcOffset, int length, ByteBuffer dst, int dstOffset, int room);

    /**
     * Inflates {@code length} bytes of {@code src} at {@code srcOffset} into {@code dst} at
     * {@code dstOffset}, writing at most {@code room} bytes; returns how many it wrote.
     */
    public abstract int decompress(ByteBuffer src, int srcOffset, int length, ByteBuffer dst, int dstOffset, int room)
            throws ProtocolException;

    @Override
    public void close() {
    }

    /** LZ4 blocks: the fastest, a smaller gain. */
    public static final class Lz4 extends PageCodec {
        private static final LZ4Factory FACTORY = LZ4Factory.fastestInstance();
        private final LZ4Compressor compressor = FACTORY.fastCompressor();
        private final LZ4SafeDecompressor decompressor = FACTORY.safeDecompressor();

        @Override
        public int code() {
            return Wire.CODEC_LZ4;
        }

        @Override
        public int feature() {
            return Wire.FEATURE_LZ4;
        }

        @Override
        public String name() {
            return "lz4";
        }

        @Override
        public int compress(ByteBuffer src, int srcOffset, int length, ByteBuffer dst, int dstOffset, int room) {
            try {
                return compressor.compress(src, srcOffset, length, dst, dstOffset, room);
            } catch (LZ4Exception tooSmall) {
                return -1;
            }
        }

        @Override
        public int decompress(ByteBuffer src, int srcOffset, int length, ByteBuffer dst, int dstOffset, int room) throws ProtocolException {
            try {
                return decompressor.decompress(src, srcOffset, length, dst, dstOffset, room);
            } catch (LZ4Exception | IndexOutOfBoundsException e) {
                throw new ProtocolException("LZ4 page data is malformed: " + e.getMessage());
            }
        }
    }

    /** zstd frames, from {@link #ZSTD_LEVEL} up: more gain for more CPU, the choice for slow links. */
    public static final class Zstd extends PageCodec {
        private static final int[] LEVELS = {1, 3, 6};
        private ZstdCompressCtx compressor;
        private ZstdDecompressCtx decompressor;
        private int level = ZSTD_LEVEL;

        @Override
        public int[] levels() {
            return LEVELS.clone();
        }

        @Override
        public double[] levelSpeeds() {
            return new double[] {1.0, 484.0 / 693, 180.0 / 693};
        }

        @Override
        public void level(int level) {
            if (java.util.Arrays.stream(LEVELS).noneMatch(l -> l == level)) {
                throw new IllegalArgumentException("zstd level " + level + " is not one of " + java.util.Arrays.toString(LEVELS));
            }
            this.level = level;
            if (compressor != null) {
                compressor.setLevel(level);
            }
        }

        @Override
        public int code() {
            return Wire.CODEC_ZSTD;
        }

        @Override
        public int feature() {
            return Wire.FEATURE_ZSTD;
        }

        @Override
        public String name() {
            return "zstd";
        }

        @Override
        public int compress(ByteBuffer src, int srcOffset, int length, ByteBuffer dst, int dstOffset, int room) {
            if (compressor == null) {
                // Contexts are made on first use (the receiver's instance never compresses) and reused: making one per call costs more than a page.
                compressor = new ZstdCompressCtx().setLevel(level).setChecksum(false).setContentSize(true);
            }
            try {
                return compressor.compressDirectByteBuffer(dst, dstOffset, room, src, srcOffset, length);
            } catch (ZstdException tooSmall) {
                return -1;
            }
        }

        @Override
        public int decompress(ByteBuffer src, int srcOffset, int length, ByteBuffer dst, int dstOffset, int room) throws ProtocolException {
            if (decompressor == null) {
                decompressor = new ZstdDecompressCtx();
            }
            try {
                return decompressor.decompressDirectByteBuffer(dst, dstOffset, room, src, srcOffset, length);
            } catch (ZstdException | IndexOutOfBoundsException e) {
                throw new ProtocolException("zstd page data is malformed: " + e.getMessage());
            }
        }

        @Override
        public void close() {
            if (compressor != null) {
                compressor.close();
            }
            if (decompressor != null) {
                decompressor.close();
            }
        }
    }
}
