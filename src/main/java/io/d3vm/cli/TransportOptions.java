package io.d3vm.cli;

import io.d3vm.migration.tls.TlsDir;
import io.d3vm.migration.tls.TlsTransport;
import io.d3vm.migration.transport.TcpTransport;
import io.d3vm.migration.transport.Transport;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Path;

/**
 * {@code --tls-dir}, shared by {@code migrate} and {@code receive} (a picocli mixin): how the bytes
 * travel, plain TCP or TLS 1.3 with mutual authentication.
 */
final class TransportOptions {
    @Option(names = "--tls-dir", paramLabel = "DIR",
            description = {"TLS 1.3 with mutual authentication: DIR holds ca-cert.pem, cert.pem, key.pem (make test ones with",
                    "`d3vm certs --out DIR`); the peer must present a certificate from the same CA. Default: plain TCP"})
    Path tlsDir;

    @Spec(Spec.Target.MIXEE)
    CommandSpec command;

    private Transport transport;

    /**
     * The transport, built once (a bad directory fails here, before any guest is touched);
     * {@code handshakeTimeoutMillis} bounds a TLS handshake.
     */
    Transport transport(long handshakeTimeoutMillis) throws IOException {
        if (transport == null) {
            if (tlsDir == null) {
                transport = new TcpTransport();
            } else {
                TlsDir dir;
                try {
                    dir = TlsDir.load(tlsDir);
                } catch (IOException e) {
                    // A missing directory, a certificate from another CA, a key that does not match: bad input, exit 2.
                    throw new CommandLine.ParameterException(command.commandLine(), e.getMessage());
                }
                transport = new TlsTransport(dir, (int) Math.min(Integer.MAX_VALUE, handshakeTimeoutMillis));
            }
        }
        return transport;
    }
}
