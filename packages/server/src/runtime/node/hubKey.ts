/**
 * The hub's long-lived Ed25519 key (contracts.md "Identity": sender_id 0, listed in every
 * room's external_senders). Created on first start with mode 0600 and reused afterwards,
 * because rooms and clients pin it.
 */
import { createPrivateKey, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { ed25519PrivateKeyObject, ed25519RawPublicKey } from "@kalandra/proto/node";
import type { HubKey } from "./wire.js";

export function loadOrCreateHubKey(path: string): { key: HubKey; created: boolean } {
  if (existsSync(path)) {
    const privateKey = createPrivateKey(readFileSync(path, "utf8"));
    if (privateKey.asymmetricKeyType !== "ed25519")
      throw new Error(`${path} is not an Ed25519 private key`);
    return {
      key: { privateKey, publicKey: ed25519RawPublicKey(privateKey) },
      created: false,
    };
  }
  // From a random seed, not generateKeyPairSync: Node 20 can deadlock when a garbage
  // collection during the key's export destroys the KeyGenJob that made it (docs/performance.md
  // "Scale: idle sessions").
  const privateKey = ed25519PrivateKeyObject(randomBytes(32));
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, privateKey.export({ type: "pkcs8", format: "pem" }), {
    mode: 0o600,
    flag: "wx",
  });
  return { key: { privateKey, publicKey: ed25519RawPublicKey(privateKey) }, created: true };
}
