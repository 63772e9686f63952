package io.d3vm.cli;

import io.d3vm.memory.Sizes;
import io.d3vm.migration.send.Bandwidth;
import io.d3vm.migration.transport.HostPort;
import picocli.CommandLine;

import java.net.InetSocketAddress;
import java.util.Locale;

/**
 * picocli converters for the values migration commands take, each failing with a message that
 * shows a correct example: {@code HOST:PORT}, durations ({@code 300ms}, {@code 2s}), sizes
 * ({@code 4G}) and bandwidths ({@code 1G}, {@code 100Mbit}).
 */
final class CliValues {
    private CliValues() {}

    /**
     * A converter over one of the project's parsers: their IllegalArgumentException, whose message
     * names the value and shows a correct one, becomes picocli's "Invalid value for option" line.
     */
    abstract static class Parsed<T> implements CommandLine.ITypeConverter<T> {
        abstract T parse(String value);

        @Override
        public final T convert(String value) {
            try {
                return parse(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    /** {@code --to HOST:PORT}: where to connect (io.d3vm.migration.transport.HostPort, shared with the API). */
    static final class PeerAddress extends Parsed<InetSocketAddress> {
        @Override
        InetSocketAddress parse(String value) {
            return HostPort.peer(value);
        }
    }

    /** {@code --listen HOST:PORT}, {@code [v6]:PORT} or {@code :PORT} (every interface); port 0 picks one. */
    static final class ListenAddress extends Parsed<InetSocketAddress> {
        @Override
        InetSocketAddress parse(String value) {
            return HostPort.listen(value);
        }
    }

    /**
     * Why a file operation failed, in the words of the system ("No such file or directory",
     * "Permission denied"), where {@link java.io.IOException#getMessage()} often holds only the path.
     */
    static String reason(java.io.IOException e) {
        if (e instanceof java.nio.file.NoSuchFileException) {
            return "no such file or directory";
        }
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof java.nio.file.FileAlreadyExistsException) {
            return "it exists already";
        }
        if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) {
            return f.getReason();
        }
        return e.getMessage();
    }

    /** Milliseconds from {@code 300ms}, {@code 2s}, {@code 1.5s}, {@code 2m}: a unit is required. */
    static final class Millis extends Parsed<Long> {
        @Override
        Long parse(String value) {
            return io.d3vm.migration.Durations.parseMillis(value);
        }
    }

    /** {@code --detector}: one of {@link io.d3vm.migration.detect.Detectors#NAMES}. */
    static final class DetectorName implements CommandLine.ITypeConverter<String> {
        @Override
        public String convert(String value) {
            if (!io.d3vm.migration.detect.Detectors.NAMES.contains(value)) {
                throw new CommandLine.TypeConversionException("unknown detector '" + value + "': use one of "
                        + String.join(", ", io.d3vm.migration.detect.Detectors.NAMES));
            }
            return value;
        }
    }

    /** {@code --verify}: incremental, strict or off. */
    static final class VerifyMode extends Parsed<io.d3vm.migration.send.Verify> {
        @Override
        io.d3vm.migration.send.Verify parse(String value) {
            return io.d3vm.migration.send.Verify.parse(value);
        }
    }

    /** {@code none}, {@code lz4}, {@code zstd}, {@code auto}. */
    static final class CompressMode extends Parsed<io.d3vm.migration.send.ByteSavings.Compress> {
        @Override
        io.d3vm.migration.send.ByteSavings.Compress parse(String value) {
            return io.d3vm.migration.send.ByteSavings.compress(value);
        }
    }

    /** {@code off}, {@code on}, {@code auto}. */
    static final class DuplicatesMode extends Parsed<io.d3vm.migration.send.ByteSavings.Duplicates> {
        @Override
        io.d3vm.migration.send.ByteSavings.Duplicates parse(String value) {
            return io.d3vm.migration.send.ByteSavings.duplicates(value);
        }
    }

    /** Bytes from {@code 4096}, {@code 64K}, {@code 4G} (binary multiples). */
    static final class Bytes extends Parsed<Long> {
        @Override
        Long parse(String value) {
            return Sizes.parseBytes(value);
        }
    }

    /** Bytes per second from {@link Bandwidth} syntax. */
    static final class BytesPerSecond extends Parsed<Long> {
        @Override
        Long parse(String value) {
            return Bandwidth.parse(value);
        }
    }

    /**
     * Opens {@code --debugcon FILE} for the guest's port-0xe9 bytes: unbuffered, so each byte leaves
     * when the guest writes it. A FIFO blocks here until its reader opens it (the bench opens first).
     */
    static java.io.OutputStream openDebugcon(java.nio.file.Path file, CommandLine cmd) {
        try {
            return new java.io.FileOutputStream(file.toFile());
        } catch (java.io.IOException e) {
            throw new CommandLine.ParameterException(cmd, "--debugcon " + file + ": cannot open it for writing (" + reason(e) + ")");
        }
    }
}
