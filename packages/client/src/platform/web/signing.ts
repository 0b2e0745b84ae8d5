/**
 * MLS signing keys in browsers (the browser and default side of `#platform/signing`).
 * Ed25519 goes through WebCrypto where the runtime has it (Chromium 137+, Firefox 129+,
 * Safari 17+, Node 20): verification costs ~0.1 ms there against ~2.5 ms for @noble's pure
 * JavaScript, signing ~0.05 ms against ~0.6 ms. Where WebCrypto lacks Ed25519 the same
 * calls fall back to @noble/curves. Ed25519 is deterministic (RFC 8032 §5.1.6): both paths
 * give the same signatures. ECDSA P-256 verification is @noble's. Key imports throw on a
 * bad key.
 */
import { concatBytes, ED25519_PKCS8_PREFIX } from "@kalandra/proto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";

/** An imported key as the platform holds it; only this module looks inside. */
export type KeyHandle = unknown;

/** The part of WebCrypto used here, structurally (a CryptoKey stays opaque). */
type WebKey = object;
interface Subtle {
  importKey(
    format: "pkcs8" | "raw",
    keyData: Uint8Array,
    algorithm: { name: string },
    extractable: boolean,
    usages: string[],
  ): Promise<WebKey>;
  sign(algorithm: { name: string }, key: WebKey, data: Uint8Array): Promise<ArrayBuffer>;
  verify(
    algorithm: { name: string },
    key: WebKey,
    signature: Uint8Array,
    data: Uint8Array,
  ): Promise<boolean>;
}
const subtle = (): Subtle | undefined =>
  (globalThis as { crypto?: { subtle?: Subtle } }).crypto?.subtle;

/** Raw key bytes, and the WebCrypto key once imported (null: this runtime has none). */
interface Ed25519Key {
  readonly raw: Uint8Array;
  web?: Promise<WebKey | null>;
}

const ED25519 = { name: "Ed25519" } as const;

/** A WebCrypto key, or null when this runtime's WebCrypto has no Ed25519 (or refuses it). */
async function webKey(
  format: "pkcs8" | "raw",
  bytes: Uint8Array,
  usage: "sign" | "verify",
): Promise<WebKey | null> {
  const s = subtle();
  if (s === undefined) return null;
  try {
    return await s.importKey(format, bytes, ED25519, false, [usage]);
  } catch {
    return null; // NotSupportedError: @noble does the work instead
  } finally {
    if (format === "pkcs8") bytes.fill(0); // the seed's DER copy is spent
  }
}

/** An Ed25519 signing key from a raw 32-byte seed or a PKCS#8 DER document (RFC 8410). */
export function ed25519SigningKey(signKey: Uint8Array): KeyHandle {
  if (signKey.length === 32) return { raw: Uint8Array.from(signKey) } satisfies Ed25519Key;
  const n = ED25519_PKCS8_PREFIX.length;
  if (signKey.length !== n + 32 || ED25519_PKCS8_PREFIX.some((b, i) => signKey[i] !== b)) {
    throw new Error("not an Ed25519 seed or PKCS#8 document");
  }
  return { raw: signKey.slice(n) } satisfies Ed25519Key;
}

export async function ed25519Sign(key: KeyHandle, message: Uint8Array): Promise<Uint8Array> {
  const k = key as Ed25519Key;
  k.web ??= webKey("pkcs8", concatBytes(ED25519_PKCS8_PREFIX, k.raw), "sign");
  const web = await k.web;
  if (web === null) return ed25519.sign(message, k.raw);
  return new Uint8Array(await (subtle() as Subtle).sign(ED25519, web, message));
}

/** An Ed25519 verification key from its 32 bytes (whether it is a point shows on use). */
export function ed25519VerifyingKey(publicKey: Uint8Array): KeyHandle {
  if (publicKey.length !== 32) throw new Error("Ed25519 public key must be 32 bytes");
  return { raw: Uint8Array.from(publicKey) } satisfies Ed25519Key;
}

/** RFC 8032 verification; false (never a rejection) for anything that does not verify. */
export async function ed25519Verify(
  key: KeyHandle,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (signature.length !== 64) return false;
  const k = key as Ed25519Key;
  k.web ??= webKey("raw", k.raw, "verify");
  const web = await k.web;
  try {
    if (web === null) return ed25519.verify(signature, message, k.raw, { zip215: false });
    return await (subtle() as Subtle).verify(ED25519, web, signature, message);
  } catch {
    return false;
  }
}

/** A P-256 verification key from a 33- or 65-byte SEC1 point. */
export function p256VerifyingKey(pk: Uint8Array): KeyHandle {
  if (pk.length !== 65 && pk.length !== 33) {
    throw new Error("P-256 public key must be a 33- or 65-byte point");
  }
  p256.Point.fromBytes(pk).assertValidity();
  return Uint8Array.from(pk);
}

/** ECDSA-SHA256 verification of a DER signature; false (never a throw) when malformed. */
export function p256Verify(key: KeyHandle, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return p256.verify(signature, message, key as Uint8Array, {
      prehash: true,
      format: "der",
      lowS: false,
    });
  } catch {
    return false;
  }
}
