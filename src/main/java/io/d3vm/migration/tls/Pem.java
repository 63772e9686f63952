package io.d3vm.migration.tls;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.InvalidKeySpecException;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * PEM (RFC 7468) reading and writing for the files of a {@code --tls-dir}: X.509 certificates and
 * unencrypted PKCS#8 private keys (EC or RSA), the forms {@code openssl} and {@link CertificateMaker}
 * write. Used by {@link TlsDir} and {@link CertificateMaker}; errors name the file and what to do.
 */
final class Pem {
    private static final Pattern BLOCK = Pattern.compile("-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\\s]*?)-----END \\1-----");

    private Pem() {}

    static String certificate(X509Certificate c) throws CertificateException {
        return block("CERTIFICATE", c.getEncoded());
    }

    static String privateKey(PrivateKey k) {
        if (!"PKCS#8".equals(k.getFormat())) {
            throw new IllegalArgumentException("private key encodes as " + k.getFormat() + ", not PKCS#8");
        }
        return block("PRIVATE KEY", k.getEncoded());
    }

    private static String block(String label, byte[] der) {
        return "-----BEGIN " + label + "-----\n"
                + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der)
                + "\n-----END " + label + "-----\n";
    }

    /** Writes a new file (never overwrites); a secret one is created with mode 0600 before any byte is in it. */
    static void writeNew(Path file, String text, boolean secret) throws IOException {
        if (Files.exists(file)) {
            throw new FileAlreadyExistsException(file.toString(), null, "refusing to overwrite; choose an empty --out directory");
        }
        if (secret) {
            Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            Files.writeString(file, text, StandardCharsets.US_ASCII, StandardOpenOption.TRUNCATE_EXISTING);
        } else {
            Files.writeString(file, text, StandardCharsets.US_ASCII, StandardOpenOption.CREATE_NEW);
        }
    }

    /** Every CERTIFICATE block of a PEM file, in order; at least one. */
    static List<X509Certificate> readCertificates(Path file) throws IOException {
        List<X509Certificate> out = new ArrayList<>();
        try {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            for (Block b : blocks(file)) {
                if (b.label.equals("CERTIFICATE")) {
                    out.add((X509Certificate) cf.generateCertificate(new ByteArrayInputStream(b.der)));
                }
            }
        } catch (CertificateException e) {
            throw new IOException(file + ": not a valid X.509 certificate: " + e.getMessage(), e);
        }
        if (out.isEmpty()) {
            throw new IOException(file + ": no '-----BEGIN CERTIFICATE-----' block (expected a PEM certificate)");
        }
        return out;
    }

    /** The one PRIVATE KEY block of a PEM file, as an EC or RSA key. */
    static PrivateKey readPrivateKey(Path file) throws IOException {
        List<Block> blocks = blocks(file);
        for (Block b : blocks) {
            switch (b.label) {
                case "PRIVATE KEY" -> {
                    for (String alg : new String[] {"EC", "RSA", "Ed25519"}) {
                        try {
                            return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(b.der));
                        } catch (InvalidKeySpecException e) {
                            // not this algorithm; try the next
                        } catch (GeneralSecurityException e) {
                            throw new IOException(file + ": " + e.getMessage(), e);
                        }
                    }
                    throw new IOException(file + ": PKCS#8 key is neither EC, RSA nor Ed25519");
                }
                case "ENCRYPTED PRIVATE KEY" -> throw new IOException(file + ": the key is encrypted; d3vm needs it unencrypted "
                        + "(protect it with file permissions): openssl pkcs8 -in KEY -out key.pem -nocrypt");
                case "EC PRIVATE KEY", "RSA PRIVATE KEY" -> throw new IOException(file + ": the key is in the old " + b.label
                        + " form; convert it to PKCS#8: openssl pkcs8 -topk8 -nocrypt -in KEY -out key.pem");
                default -> { }
            }
        }
        throw new IOException(file + ": no '-----BEGIN PRIVATE KEY-----' block (expected an unencrypted PKCS#8 PEM key)");
    }

    private record Block(String label, byte[] der) {}

    private static List<Block> blocks(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException(file + ": no such file");
        }
        if (Files.size(file) > 1 << 20) {
            throw new IOException(file + ": larger than 1 MiB; not a PEM certificate or key");
        }
        String text = Files.readString(file, StandardCharsets.ISO_8859_1);
        List<Block> out = new ArrayList<>();
        Matcher m = BLOCK.matcher(text);
        while (m.find()) {
            try {
                out.add(new Block(m.group(1), Base64.getMimeDecoder().decode(m.group(2))));
            } catch (IllegalArgumentException e) {
                throw new IOException(file + ": bad base64 in the " + m.group(1) + " block", e);
            }
        }
        return out;
    }
}
