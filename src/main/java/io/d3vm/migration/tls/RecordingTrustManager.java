package io.d3vm.migration.tls;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;
import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * The PKIX trust manager of a {@link TlsDir}, remembering per socket why it rejected the peer's
 * certificate. When the peer hangs up while our alert is being sent, the handshake fails with
 * "Broken pipe" and the JDK drops the certificate failure that caused it; {@link TlsTransport}
 * asks {@link #failureOf} so its message still says what was wrong.
 */
final class RecordingTrustManager extends X509ExtendedTrustManager {
    private final X509ExtendedTrustManager pkix;
    private final Map<Socket, CertificateException> failures = Collections.synchronizedMap(new WeakHashMap<>());

    RecordingTrustManager(X509ExtendedTrustManager pkix) {
        this.pkix = pkix;
    }

    /** Why the certificate of the peer on {@code s} was rejected, or null (and forgets it). */
    CertificateException failureOf(Socket s) {
        return failures.remove(s);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        recordFailure(socket, () -> pkix.checkClientTrusted(chain, authType, socket));
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        recordFailure(socket, () -> pkix.checkServerTrusted(chain, authType, socket));
    }

    private interface Check {
        void run() throws CertificateException;
    }

    private void recordFailure(Socket socket, Check check) throws CertificateException {
        try {
            check.run();
        } catch (CertificateException e) {
            failures.put(socket, e);
            throw e;
        }
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        pkix.checkClientTrusted(chain, authType, engine);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        pkix.checkServerTrusted(chain, authType, engine);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        pkix.checkClientTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        pkix.checkServerTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return pkix.getAcceptedIssuers();
    }
}
