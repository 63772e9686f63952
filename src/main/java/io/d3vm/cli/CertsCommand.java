package io.d3vm.cli;

import io.d3vm.migration.tls.CertificateMaker;
import io.d3vm.migration.tls.TlsDir;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.concurrent.Callable;

/**
 * {@code d3vm certs --out DIR}: makes a private test CA and a certificate + key for a migration
 * source and a destination, laid out as the {@code --tls-dir} directories that {@code migrate} and
 * {@code receive} take. Needs nothing but the JDK (no openssl).
 */
@Command(name = "certs",
        mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = {"Make a test CA and TLS certificates for migration peers:",
                "DIR/ca/ (CA cert + key: keep the key private), DIR/source/ and DIR/destination/ (each a --tls-dir:",
                "ca-cert.pem, cert.pem, key.pem)."})
final class CertsCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "directory to write (existing files are never overwritten)")
    Path out;

    @Option(names = "--days", paramLabel = "N", description = "validity of every certificate in days (default ${DEFAULT-VALUE})")
    int days = 365;

    @Override
    public Integer call() throws Exception {
        if (days < 1 || days > 36_500) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--days must be between 1 and 36500, was " + days);
        }
        try {
            CertificateMaker.writeTestPki(out, Duration.ofDays(days), new SecureRandom());
        } catch (java.io.IOException e) {
            String path = e instanceof java.nio.file.FileSystemException f && f.getFile() != null ? f.getFile() : out.toString();
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--out " + out + ": cannot write " + path
                    + " (" + CliValues.reason(e) + ")");
        }
        // Load what was written exactly as migrate/receive will, so a broken result fails here.
        TlsDir.load(out.resolve("source"));
        TlsDir.load(out.resolve("destination"));
        PrintWriter w = spec.commandLine().getOut();
        w.println("wrote a test CA and two peers under " + out + " (valid " + days + " days):");
        w.println("  " + out.resolve("ca") + "            CA certificate and key (keep ca-key.pem off the peers)");
        w.println("  " + out.resolve("source") + "        --tls-dir for ./d3vm migrate");
        w.println("  " + out.resolve("destination") + "   --tls-dir for ./d3vm receive");
        w.flush();
        return ExitCode.OK;
    }
}
