/**
 * The few primitives of cipher suite 1 (MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519) the hub
 * needs, synchronous and on node:crypto: SHA-256, and Ed25519 verification through proto's one
 * Ed25519 module and key cache (PROBES: node:crypto verifies in ~118 µs, noble in ~2.4 ms).
 * No secrets ever pass through here.
 */
import { createHash } from "node:crypto";
import { concatBytes, ed25519Verify, bytesEqual as shortBytesEqual } from "@kalandra/proto";

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** QUIC-style variable-length integer prefix of RFC 9420 §2.1.2. */
export function varintPrefix(n: number): Uint8Array {
  if (n < 0x40) return Uint8Array.of(n);
  if (n < 0x4000) return Uint8Array.of(0x40 | (n >> 8), n & 0xff);
  return Uint8Array.of(0x80 | ((n >>> 24) & 0x3f), (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

const textEncoder = new TextEncoder();

/** SignContent of RFC 9420 §5.1.2: opaque label<V> = "MLS 1.0 " + Label; opaque content<V>. */
export function verifyWithLabel(
  publicKey: Uint8Array,
  label: string,
  content: Uint8Array,
  signature: Uint8Array,
): boolean {
  const l = textEncoder.encode(`MLS 1.0 ${label}`);
  const signContent = concatBytes(varintPrefix(l.length), l, varintPrefix(content.length), content);
  return ed25519Verify(publicKey, signContent, signature);
}

/** RefHash of RFC 9420 §5.2: H(label<V> ‖ value<V>). */
export function refHash(label: string, value: Uint8Array): Uint8Array {
  const l = textEncoder.encode(label);
  return sha256(varintPrefix(l.length), l, varintPrefix(value.length), value);
}

/**
 * Byte equality; long arrays (a 10,000-member ratchet tree is 1.76 MB) compared natively,
 * not one byte per loop iteration.
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  if (a.length < 64) return shortBytesEqual(a, b);
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(
    Buffer.from(b.buffer, b.byteOffset, b.length),
  );
}

/** Re-exported for the MLS modules, which take their byte helpers from here. */
export { toHex } from "@kalandra/proto";
