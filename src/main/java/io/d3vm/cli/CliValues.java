package io.d3vm.cli;

import io.d3vm.memory.Sizes;
import io.d3vm.migration.send.Bandwidth;
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

    /** {@code HOST:PORT}, {@code [v6]:PORT} or {@code :PORT} (all interfaces, for listening). Not resolved yet. */
    static final class HostPort implements CommandLine.ITypeConverter<InetSocketAddress> {
        @Override
        public InetSocketAddress convert(String value) {
            return parse(value);
        }

        static InetSocketAddress parse(String value) {
            String v = value.trim();
            int colon = v.lastIndexOf(':');
            if (colon < 0) {
                throw new CommandLine.TypeConversionException("'" + value + "' is not HOST:PORT (e.g. 127.0.0.1:7000 or [::1]:7000)");
            }
            String host = v.substring(0, colon);
            String port = v.substring(colon + 1);
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
            } else if (host.contains(":")) {
                throw new CommandLine.TypeConversionException("'" + value + "': write IPv6 addresses in brackets, e.g. [::1]:7000");
            }
            int p;
            try {
                p = Integer.parseInt(port);
            } catch (NumberFormatException e) {
                throw new CommandLine.TypeConversionException("'" + value + "': port '" + port + "' is not a number 0..65535");
            }
            if (p < 0 || p > 65535) {
                throw new CommandLine.TypeConversionException("'" + value + "': port " + p + " is outside 0..65535");
            }
            return host.isEmpty() ? new InetSocketAddress(p) : InetSocketAddress.createUnresolved(host, p);
        }
    }

    /**
     * Why a file operation failed, in the words of the system ("No such file or directory",
     * "Permission denied"), where {@link IOException#getMessage()} often holds only the path.
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

    /** {@code host:port} as {@link HostPort#parse} reads it back: IPv6 in brackets, the wildcard as 0.0.0.0. */
    static String formatHostPort(InetSocketAddress typed, int port) {
        String host = typed.getHostString();
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }

    /** Resolves a parsed address, with a readable error for unknown hosts. */
    static InetSocketAddress resolve(InetSocketAddress a) {
        if (!a.isUnresolved()) {
            return a;
        }
        InetSocketAddress r = new InetSocketAddress(a.getHostString(), a.getPort());
        if (r.isUnresolved()) {
            throw new IllegalArgumentException("unknown host '" + a.getHostString() + "'");
        }
        return r;
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
