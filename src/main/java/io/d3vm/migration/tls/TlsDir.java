package io.d3vm.migration.tls;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * A {@code --tls-dir}: the trusted CA certificate(s), this peer's certificate and its private key,
 * as PEM files with fixed names (the layout of QEMU's and Cloud Hypervisor's TLS directories):
 * <pre>
 *   DIR/ca-cert.pem   the CA every peer's certificate must be signed by (one or more certificates)
 *   DIR/cert.pem      this peer's certificate (optionally followed by intermediates)
 *   DIR/key.pem       this peer's private key, unencrypted PKCS#8 (mode 0600)
 * </pre>
 * {@link #load} checks the files once (they parse, the key belongs to the certificate, the CA signed
 * it, it is in its validity period) so a bad directory fails at startup with a message naming the
 * file, not later as an opaque handshake alert. Used by {@link TlsTransport}; {@link CertificateMaker}
 * writes such directories.
 */
public final class TlsDir {
    public static final String CA_CERT = "ca-cert.pem";
    public static final String CERT = "cert.pem";
    public static final String KEY = "key.pem";

    private final Path dir;
    private final List<X509Certificate> authorities;
    private final List<X509Certificate> chain;
    private final SSLContext context;

    private final RecordingTrustManager trust;

    private TlsDir(Path dir, List<X509Certificate> authorities, List<X509Certificate> chain, SSLContext context,
                   RecordingTrustManager trust) {
        this.trust = trust;
        this.dir = dir;
        this.authorities = authorities;
        this.chain = chain;
        this.context = context;
    }

    /** Reads and checks {@code dir}; every failure is an {@link IOException} naming the file and the fix. */
    public static TlsDir load(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new IOException("--tls-dir " + dir + " is not a directory (make one with: d3vm certs --out DIR)");
        }
        List<X509Certificate> cas = Pem.readCertificates(dir.resolve(CA_CERT));
        List<X509Certificate> chain = Pem.readCertificates(dir.resolve(CERT));
        PrivateKey key = Pem.readPrivateKey(dir.resolve(KEY));
        X509Certificate own = chain.get(0);
        try {
            own.checkValidity();
        } catch (CertificateExpiredException | CertificateNotYetValidException e) {
            throw new IOException(dir.resolve(CERT) + ": outside its validity period (" + own.getNotBefore() + " to "
                    + own.getNotAfter() + "); issue a new one", e);
        }
        if (!keyMatches(key, own.getPublicKey())) {
            throw new IOException(dir.resolve(KEY) + " is not the private key of " + dir.resolve(CERT));
        }
        X509Certificate top = chain.get(chain.size() - 1);
        if (cas.stream().noneMatch(ca -> signedBy(top, ca))) {
            throw new IOException(dir.resolve(CERT) + " (" + top.getSubjectX500Principal().getName() + ") is not signed by the CA in "
                    + dir.resolve(CA_CERT) + "; peers trusting that CA would refuse it");
        }
        try {
            char[] password = "in-memory".toCharArray(); // the key store never leaves this process
            KeyStore keys = KeyStore.getInstance("PKCS12");
            keys.load(null, null);
            keys.setKeyEntry("own", key, password, chain.toArray(X509Certificate[]::new));
            KeyManagerFactory kmf = KeyManagerFactory.getInstance("PKIX");
            kmf.init(keys, password);
            KeyStore trust = KeyStore.getInstance("PKCS12");
            trust.load(null, null);
            for (int i = 0; i < cas.size(); i++) {
                trust.setCertificateEntry("ca-" + i, cas.get(i));
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
            tmf.init(trust);
            RecordingTrustManager tm = null;
            for (var m : tmf.getTrustManagers()) {
                if (m instanceof javax.net.ssl.X509ExtendedTrustManager x) {
                    tm = new RecordingTrustManager(x);
                }
            }
            if (tm == null) {
                throw new GeneralSecurityException("the PKIX trust manager factory made no X509ExtendedTrustManager");
            }
            SSLContext ctx = SSLContext.getInstance("TLSv1.3");
            ctx.init(kmf.getKeyManagers(), new javax.net.ssl.TrustManager[] {tm}, new SecureRandom());
            return new TlsDir(dir, List.copyOf(cas), List.copyOf(chain), ctx, tm);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot build a TLS context from " + dir + ": " + e.getMessage(), e);
        }
    }

    public Path dir() {
        return dir;
    }

    /** This peer's certificate. */
    public X509Certificate certificate() {
        return chain.get(0);
    }

    public List<X509Certificate> authorities() {
        return authorities;
    }

    RecordingTrustManager trustManager() {
        return trust;
    }

    /** Why this directory's trust manager rejected the peer on {@code s}, or null. */
    java.security.cert.CertificateException trustFailure(java.net.Socket s) {
        return trust.failureOf(s);
    }

    /** A TLS 1.3 context presenting this peer's certificate and trusting only the directory's CA. */
    public SSLContext context() {
        return context;
    }

    private static boolean signedBy(X509Certificate cert, X509Certificate ca) {
        try {
            cert.verify(ca.getPublicKey());
            return cert.getIssuerX500Principal().equals(ca.getSubjectX500Principal());
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    private static boolean keyMatches(PrivateKey key, PublicKey pub) {
        String alg = switch (key.getAlgorithm()) {
            case "EC" -> "SHA256withECDSA";
            case "RSA" -> "SHA256withRSA";
            default -> key.getAlgorithm(); // Ed25519
        };
        try {
            byte[] probe = "d3vm key check".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            Signature s = Signature.getInstance(alg);
            s.initSign(key);
            s.update(probe);
            byte[] sig = s.sign();
            Signature v = Signature.getInstance(alg);
            v.initVerify(pub);
            v.update(probe);
            return v.verify(sig);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }
}
