package io.d3vm.migration.tls;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;

/**
 * Makes a private certificate authority and the certificates migration peers present to each other
 * (ECDSA P-256, X.509 v3), written as PEM into {@code --tls-dir} directories ({@link TlsDir}). It is
 * for tests and for operators without a PKI: {@code d3vm certs --out DIR} calls
 * {@link #writeTestPki}. A production site would issue the same three files from its own CA.
 *
 * <p>Each peer certificate carries both the serverAuth and clientAuth extended key usages, so either
 * host may be the source or the destination of the next migration.
 */
public final class CertificateMaker {
    private static final String SHA256_WITH_ECDSA = "1.2.840.10045.4.3.2";
    private static final String CN = "2.5.4.3";
    private static final String O = "2.5.4.10";
    private static final String BASIC_CONSTRAINTS = "2.5.29.19";
    private static final String KEY_USAGE = "2.5.29.15";
    private static final String EXT_KEY_USAGE = "2.5.29.37";
    private static final String SUBJECT_ALT_NAME = "2.5.29.17";
    private static final String SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
    private static final String CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
    // KeyUsage bit numbers (RFC 5280 §4.2.1.3)
    private static final int DIGITAL_SIGNATURE = 0;
    private static final int KEY_CERT_SIGN = 5;
    private static final int CRL_SIGN = 6;

    private CertificateMaker() {}

    /** A certificate with the private key that belongs to it. */
    public record Issued(X509Certificate certificate, PrivateKey key) {}

    /** A self-signed CA certificate that may sign peer certificates (and nothing below them). */
    public static Issued newAuthority(String commonName, Duration validity, SecureRandom random) throws GeneralSecurityException {
        KeyPair kp = keyPair(random);
        byte[] name = name(commonName);
        byte[] extensions = Der.sequence(
                extension(BASIC_CONSTRAINTS, true, Der.sequence(Der.bool(true), Der.integer(0))),
                extension(KEY_USAGE, true, Der.namedBits(KEY_CERT_SIGN, CRL_SIGN)));
        return new Issued(sign(name, name, kp, kp.getPrivate(), validity, extensions, random), kp.getPrivate());
    }

    /** A peer (end-entity) certificate signed by {@code authority}. */
    public static Issued issue(Issued authority, String commonName, Duration validity, SecureRandom random) throws GeneralSecurityException {
        KeyPair kp = keyPair(random);
        byte[] issuer = authority.certificate().getSubjectX500Principal().getEncoded();
        byte[] extensions = Der.sequence(
                extension(BASIC_CONSTRAINTS, true, Der.sequence()),
                extension(KEY_USAGE, true, Der.namedBits(DIGITAL_SIGNATURE)),
                extension(EXT_KEY_USAGE, false, Der.sequence(Der.oid(SERVER_AUTH), Der.oid(CLIENT_AUTH))),
                // Not checked by d3vm (trust is "signed by the CA"), but lets standard tools verify the names.
                extension(SUBJECT_ALT_NAME, false, Der.sequence(
                        Der.tlv(0x82, "localhost".getBytes(java.nio.charset.StandardCharsets.US_ASCII)),
                        Der.tlv(0x87, new byte[] {127, 0, 0, 1}))));
        return new Issued(sign(issuer, name(commonName), kp, authority.key(), validity, extensions, random), kp.getPrivate());
    }

    /**
     * Writes a test PKI under {@code out}: {@code ca/} (the CA's certificate and key: keep the key
     * away from the peers), and the {@code --tls-dir} directories {@code source/} and
     * {@code destination/}, each with {@code ca-cert.pem}, {@code cert.pem}, {@code key.pem}.
     * Existing files are never overwritten.
     */
    public static void writeTestPki(Path out, Duration validity, SecureRandom random) throws IOException, GeneralSecurityException {
        Issued ca = newAuthority("d3vm migration test CA", validity, random);
        Path caDir = out.resolve("ca");
        Files.createDirectories(caDir);
        Pem.writeNew(caDir.resolve(TlsDir.CA_CERT), Pem.certificate(ca.certificate()), false);
        Pem.writeNew(caDir.resolve("ca-key.pem"), Pem.privateKey(ca.key()), true);
        for (String peer : new String[] {"source", "destination"}) {
            writeTlsDir(out.resolve(peer), ca.certificate(), issue(ca, "d3vm " + peer, validity, random));
        }
    }

    /** Writes one {@code --tls-dir}: the CA certificate, the peer's certificate and its key (mode 0600). */
    public static void writeTlsDir(Path dir, X509Certificate ca, Issued own) throws IOException, GeneralSecurityException {
        Files.createDirectories(dir);
        Pem.writeNew(dir.resolve(TlsDir.CA_CERT), Pem.certificate(ca), false);
        Pem.writeNew(dir.resolve(TlsDir.CERT), Pem.certificate(own.certificate()), false);
        Pem.writeNew(dir.resolve(TlsDir.KEY), Pem.privateKey(own.key()), true);
    }

    private static KeyPair keyPair(SecureRandom random) throws GeneralSecurityException {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"), random);
        return g.generateKeyPair();
    }

    private static byte[] name(String commonName) {
        return Der.sequence(
                Der.set(Der.sequence(Der.oid(O), Der.utf8("d3vm"))),
                Der.set(Der.sequence(Der.oid(CN), Der.utf8(commonName))));
    }

    private static byte[] extension(String oid, boolean critical, byte[] value) {
        return critical
                ? Der.sequence(Der.oid(oid), Der.bool(true), Der.octets(value))
                : Der.sequence(Der.oid(oid), Der.octets(value));
    }

    private static X509Certificate sign(byte[] issuer, byte[] subject, KeyPair subjectKeys, PrivateKey signer, Duration validity,
                                        byte[] extensions, SecureRandom random) throws GeneralSecurityException {
        if (validity.isNegative() || validity.isZero()) {
            throw new IllegalArgumentException("certificate validity must be positive, was " + validity);
        }
        ZonedDateTime now = ZonedDateTime.now(ZoneOffset.UTC);
        byte[] algorithm = Der.sequence(Der.oid(SHA256_WITH_ECDSA));
        byte[] tbs = Der.sequence(
                Der.explicit(0, Der.integer(2)), // v3
                Der.integer(new BigInteger(126, random).setBit(126)), // positive, 16 bytes, unique enough
                algorithm,
                issuer,
                // An hour back so a peer whose clock is a little behind still accepts it.
                Der.sequence(Der.time(now.minusHours(1)), Der.time(now.plus(validity))),
                subject,
                subjectKeys.getPublic().getEncoded(), // already a DER SubjectPublicKeyInfo
                Der.explicit(3, extensions));
        Signature s = Signature.getInstance("SHA256withECDSA");
        s.initSign(signer, random);
        s.update(tbs);
        byte[] der = Der.sequence(tbs, algorithm, Der.bits(s.sign()));
        // Parse it back: the JDK checks the encoding, and callers get a real X509Certificate.
        return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(der));
    }
}
