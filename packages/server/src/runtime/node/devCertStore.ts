/**
 * Keeps the generated development certificate in the data directory and reuses it while
 * it has more than a day left, so a restarted hub keeps its certificate hash and pinned
 * clients reconnect without a new hash.
 */
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { certificateHash, type DevCertificate, generateDevCertificate } from "./devCert.js";

/** A kept certificate with this little time left is replaced by a new one. */
export const DEV_CERT_RENEW_BEFORE_MS = 86400_000;

export function loadOrCreateDevCert(
  dir: string,
  now = new Date(),
): { cert: DevCertificate; created: boolean } {
  const certPath = join(dir, "dev-cert.pem");
  const keyPath = join(dir, "dev-key.pem");
  if (existsSync(certPath) && existsSync(keyPath)) {
    try {
      const pem = readFileSync(certPath, "utf8");
      const x = new X509Certificate(pem);
      const notAfter = new Date(x.validTo);
      if (notAfter.getTime() - now.getTime() > DEV_CERT_RENEW_BEFORE_MS) {
        return {
          cert: {
            cert: pem,
            key: readFileSync(keyPath, "utf8"),
            hash: certificateHash(pem),
            notBefore: new Date(x.validFrom),
            notAfter,
          },
          created: false,
        };
      }
    } catch {
      // unreadable: replace it below
    }
  }
  const cert = generateDevCertificate(["localhost", "127.0.0.1"], now);
  mkdirSync(dir, { recursive: true });
  writeFileSync(keyPath, cert.key, { mode: 0o600 });
  writeFileSync(certPath, cert.cert);
  return { cert, created: true };
}
