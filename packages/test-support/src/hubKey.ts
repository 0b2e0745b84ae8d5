/**
 * A hub key file made before the hub starts (`server.hub_key`), so the hubs of a federation
 * test can pin each other's keys in their configuration (docs/federation.md).
 */
import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";

const PKCS8_ED25519_PREFIX = "302e020100300506032b657004220420";

/**
 * Writes a new Ed25519 private key (PKCS#8 PEM, mode 0600) to `path`; returns its raw
 * public key as 64 hex digits, the form `[[federation.peers]] hub_key` takes.
 * @example const hubKey = writeHubKey(join(dir, "hub-key.pem"));
 */
export function writeHubKey(path: string): string {
  // From a random seed, never generateKeyPairSync: Node 20 can deadlock when a garbage
  // collection during a fresh key's export destroys its KeyGenJob. An Ed25519 PKCS#8 DER
  // is a fixed 16-byte prefix and the 32-byte seed (RFC 8410).
  const der = Buffer.concat([Buffer.from(PKCS8_ED25519_PREFIX, "hex"), randomBytes(32)]);
  const privateKey = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  const publicKey = createPublicKey(privateKey);
  writeFileSync(path, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  // An Ed25519 SPKI is a fixed 12-byte prefix and the 32-byte key (RFC 8410).
  return Buffer.from(publicKey.export({ type: "spki", format: "der" }))
    .subarray(-32)
    .toString("hex");
}
