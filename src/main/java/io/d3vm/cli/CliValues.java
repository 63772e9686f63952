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

    /** {@code --to HOST:PORT}: where to connect (io.d3vm.migration.transport.HostPort, shared with the API). */
    static final class PeerAddress implements CommandLine.ITypeConverter<InetSocketAddress> {
        @Override
        public InetSocketAddress convert(String value) {
            try {
                return HostPort.peer(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    /** {@code --listen HOST:PORT}, {@code [v6]:PORT} or {@code :PORT} (every interface); port 0 picks one. */
    static final class ListenAddress implements CommandLine.ITypeConverter<InetSocketAddress> {
        @Override
        public InetSocketAddress convert(String value) {
            try {
                return HostPort.listen(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
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

    /** Milliseconds from {@code 300ms}, {@code 2s}, {@code 1.5s}, {@code 2m}, or a plain number of ms. */
    static final class Millis implements CommandLine.ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            try {
                return io.d3vm.migration.Durations.parseMillis(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
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
    static final class VerifyMode implements CommandLine.ITypeConverter<io.d3vm.migration.send.Verify> {
        @Override
        public io.d3vm.migration.send.Verify convert(String value) {
            try {
                return io.d3vm.migration.send.Verify.parse(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    /** Bytes from {@code 4096}, {@code 64K}, {@code 4G} (binary multiples). */
    static final class Bytes implements CommandLine.ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            try {
                return Sizes.parseBytes(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    /** Bytes per second from {@link Bandwidth} syntax. */
    static final class BytesPerSecond implements CommandLine.ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            try {
                return Bandwidth.parse(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
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
