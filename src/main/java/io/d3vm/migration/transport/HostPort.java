package io.d3vm.migration.transport;

import java.net.InetSocketAddress;

/**
 * {@code HOST:PORT} as the CLI ({@code --to}, {@code --listen}) and the control API ({@code "to"})
 * both take it, parsed in one place: IPv6 in brackets ({@code [::1]:7000}); for listening, an empty
 * host ({@code :7000}) means every interface and port 0 lets the system pick one.
 */
public final class HostPort {
    private HostPort() {}

    /** Where to connect: a host and a port 1..65535. Not resolved yet. */
    public static InetSocketAddress peer(String value) {
        return parse(value, false);
    }

    /** Where to listen: an optional host and a port 0..65535 (0: any free port). Not resolved yet. */
    public static InetSocketAddress listen(String value) {
        return parse(value, true);
    }

    private static InetSocketAddress parse(String value, boolean listening) {
        String v = value.trim();
        int colon = v.lastIndexOf(':');
        if (colon < 0 || (colon == 0 && !listening)) {
            throw new IllegalArgumentException("'" + value + "' is not HOST:PORT (e.g. 127.0.0.1:7000 or [::1]:7000)");
        }
        String host = v.substring(0, colon);
        String port = v.substring(colon + 1);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        } else if (host.contains(":")) {
            throw new IllegalArgumentException("'" + value + "': write IPv6 addresses in brackets, e.g. [::1]:7000");
        }
        int lowest = listening ? 0 : 1;
        int p;
        try {
            p = Integer.parseInt(port);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + value + "': port '" + port + "' is not a number " + lowest + "..65535");
        }
        if (p < lowest || p > 65535) {
            throw new IllegalArgumentException("'" + value + "': port " + p + " is outside " + lowest + "..65535");
        }
        return host.isEmpty() ? new InetSocketAddress(p) : InetSocketAddress.createUnresolved(host, p);
    }

    /** Resolves a parsed address. @throws IllegalArgumentException naming an unknown host */
    public static InetSocketAddress resolve(InetSocketAddress a) {
        if (!a.isUnresolved()) {
            return a;
        }
        InetSocketAddress r = new InetSocketAddress(a.getHostString(), a.getPort());
        if (r.isUnresolved()) {
            throw new IllegalArgumentException("unknown host '" + a.getHostString() + "'");
        }
        return r;
    }

    /** {@code host:port} as {@link #peer} reads it back: IPv6 in brackets, the host as it was typed. */
    public static String format(InetSocketAddress typed, int port) {
        String host = typed.getHostString();
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }
}
