/**
 * Keeps the generated development certificate in the data directory and reuses it while
 * it has more than a day left, so a restarted hub keeps its certificate hash and pinned
 * clients reconnect without a new hash.
 */
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { certificateHash, type DevCertificate, generateDevCertificate } from "./devCert.js";

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
      if (notAfter.getTime() - now.getTime() > 86400_000) {
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
