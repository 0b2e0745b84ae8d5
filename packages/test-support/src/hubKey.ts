/**
 * A hub key file made before the hub starts (`server.hub_key`), so the hubs of a federation
 * test can pin each other's keys in their configuration (docs/federation.md).
 */
import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";

/**
 * Writes a new Ed25519 private key (PKCS#8 PEM, mode 0600) to `path`; returns its raw
 * public key as 64 hex digits, the form `[[federation.peers]] hub_key` takes.
 * @example const hubKey = writeHubKey(join(dir, "hub-key.pem"));
 */
export function writeHubKey(path: string): string {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  writeFileSync(path, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  // An Ed25519 SPKI is a fixed 12-byte prefix and the 32-byte key (RFC 8410).
  return Buffer.from(publicKey.export({ type: "spki", format: "der" }))
    .subarray(-32)
    .toString("hex");
}
