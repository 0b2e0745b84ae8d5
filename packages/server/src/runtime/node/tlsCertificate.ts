/**
 * The certificate kalandrad serves: the configured `[tls]` files, or the development
 * certificate kept in the data directory (devCertStore.ts). Reading checks what a listener
 * would otherwise find out the hard way: both files parse and the key belongs to the
 * certificate, so a bad file fails a start with a clear message and is refused on SIGHUP
 * while the running certificate stays (certificates.ts).
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { certificateHash } from "./devCert.js";
import { loadOrCreateDevCert } from "./devCertStore.js";

export type CertificateSource = "configured" | "development";

export interface TlsCertificate {
  /** PEM certificate (chain). */
  cert: string;
  /** PEM private key. Never log it. */
  key: string;
  /** SHA-256 of the leaf's DER bytes (what WebTransport clients pin). */
  hash: Uint8Array;
  notAfter: Date;
  source: CertificateSource;
}

/** Reads `[tls]` cert and key; throws naming the file and the problem. */
export function readConfiguredCertificate(certPath: string, keyPath: string): TlsCertificate {
  const cert = readPem(certPath, "tls.cert");
  const key = readPem(keyPath, "tls.key");
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (e) {
    throw new Error(`tls.cert ${certPath}: not a PEM certificate (${(e as Error).message})`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    throw new Error(`tls.key ${keyPath}: not a PEM private key (${(e as Error).message})`);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new Error(`tls.key ${keyPath} is not the key of tls.cert ${certPath}`);
  }
  return {
    cert,
    key,
    hash: certificateHash(cert),
    notAfter: new Date(x509.validTo),
    source: "configured",
  };
}

function readPem(path: string, label: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`${label} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
}

/**
 * The development certificate of `dataDir`, renewed when it has a day or less left
 * (devCertStore.ts); `created` says it was generated just now.
 */
export function developmentCertificate(
  dataDir: string,
  now: Date,
): { cert: TlsCertificate; created: boolean } {
  const dev = loadOrCreateDevCert(dataDir, now);
  return {
    cert: {
      cert: dev.cert.cert,
      key: dev.cert.key,
      hash: dev.cert.hash,
      notAfter: dev.cert.notAfter,
      source: "development",
    },
    created: dev.created,
  };
}
