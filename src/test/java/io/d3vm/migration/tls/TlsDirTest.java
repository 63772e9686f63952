package io.d3vm.migration.tls;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TlsDirTest {
    private static final Duration YEAR = Duration.ofDays(365);

    @TempDir
    Path tmp;

    @Test
    void shouldWriteLoadableSourceAndDestinationDirectories() throws Exception {
        CertificateMaker.writeTestPki(tmp, YEAR, new SecureRandom());

        TlsDir source = TlsDir.load(tmp.resolve("source"));
        TlsDir dest = TlsDir.load(tmp.resolve("destination"));

        X509Certificate ca = source.authorities().get(0);
        assertThat(ca.getBasicConstraints()).isEqualTo(0); // a CA that signs peers only
        assertThat(source.certificate().getBasicConstraints()).isEqualTo(-1);
        assertThat(source.certificate().getExtendedKeyUsage()).contains("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2");
        assertThat(source.certificate().getSubjectX500Principal().getName()).contains("CN=d3vm source");
        assertThat(dest.certificate().getIssuerX500Principal()).isEqualTo(ca.getSubjectX500Principal());
        assertThat(source.context().getProtocol()).isEqualTo("TLSv1.3");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(tmp.resolve("source/key.pem")))).isEqualTo("rw-------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(tmp.resolve("ca/ca-key.pem")))).isEqualTo("rw-------");
    }

    @Test
    void shouldNeverOverwriteExistingFiles() throws Exception {
        CertificateMaker.writeTestPki(tmp, YEAR, new SecureRandom());
        byte[] before = Files.readAllBytes(tmp.resolve("source/key.pem"));

        assertThatThrownBy(() -> CertificateMaker.writeTestPki(tmp, YEAR, new SecureRandom()))
                .hasMessageContaining("refusing to overwrite");
        assertThat(Files.readAllBytes(tmp.resolve("source/key.pem"))).isEqualTo(before);
    }

    @Test
    void shouldRefuseCertificateFromAnotherAuthority() throws Exception {
        CertificateMaker.writeTestPki(tmp.resolve("a"), YEAR, new SecureRandom());
        CertificateMaker.writeTestPki(tmp.resolve("b"), YEAR, new SecureRandom());
        Path mixed = tmp.resolve("mixed");
        Files.createDirectories(mixed);
        Files.copy(tmp.resolve("a/source/ca-cert.pem"), mixed.resolve("ca-cert.pem"));
        Files.copy(tmp.resolve("b/source/cert.pem"), mixed.resolve("cert.pem"));
        Files.copy(tmp.resolve("b/source/key.pem"), mixed.resolve("key.pem"));

        assertThatThrownBy(() -> TlsDir.load(mixed)).isInstanceOf(IOException.class).hasMessageContaining("is not signed by the CA");
    }

    @Test
    void shouldRefuseKeyThatDoesNotBelongToCertificate() throws Exception {
        CertificateMaker.writeTestPki(tmp, YEAR, new SecureRandom());
        Files.delete(tmp.resolve("source/key.pem"));
        Files.copy(tmp.resolve("destination/key.pem"), tmp.resolve("source/key.pem"));

        assertThatThrownBy(() -> TlsDir.load(tmp.resolve("source"))).hasMessageContaining("is not the private key of");
    }

    @Test
    void shouldNameTheMissingOrMalformedFile() throws Exception {
        assertThatThrownBy(() -> TlsDir.load(tmp.resolve("nope"))).hasMessageContaining("is not a directory");
        CertificateMaker.writeTestPki(tmp, YEAR, new SecureRandom());
        Path src = tmp.resolve("source");
        Files.writeString(src.resolve("cert.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        assertThatThrownBy(() -> TlsDir.load(src)).hasMessageContaining("cert.pem").hasMessageContaining("not a valid X.509");
        Files.delete(src.resolve("ca-cert.pem"));
        assertThatThrownBy(() -> TlsDir.load(src)).hasMessageContaining("ca-cert.pem: no such file");
    }

    @Test
    void shouldExplainOldStyleAndEncryptedKeys() throws Exception {
        CertificateMaker.writeTestPki(tmp, YEAR, new SecureRandom());
        Path key = tmp.resolve("source/key.pem");
        Files.writeString(key, "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n");
        assertThatThrownBy(() -> TlsDir.load(tmp.resolve("source"))).hasMessageContaining("openssl pkcs8 -topk8");
        Files.writeString(key, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n");
        assertThatThrownBy(() -> TlsDir.load(tmp.resolve("source"))).hasMessageContaining("encrypted");
    }
}
