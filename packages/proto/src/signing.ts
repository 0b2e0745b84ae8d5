/**
 * Ed25519 frame signatures with node:crypto (DESIGN §3; contracts.md "Identity").
 *
 * The signed bytes ("signed view") are header bytes 0..64 with `log_index` (36..44) and
 * `hlc_timestamp` (44..52) zeroed, followed by the payload. The signature itself (64..128)
 * is not covered, and the sequencer can stamp order and time without breaking it.
 *
 * Cost of verification: Ed25519 (PureEdDSA, RFC 8032 §5.1) hashes the whole message twice
 * and node's `crypto.verify` takes one contiguous buffer, while on the wire the signature
 * sits between the header and the payload. So the view is assembled in a module-level
 * scratch buffer: one memcpy of the payload (a few GB/s, cheap next to SHA-512 over the
 * same bytes) and no allocation for payloads up to {@link SCRATCH_RETAIN} bytes.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { HEADER_SIZE, Offset, SIGNATURE_SIZE, SIGNED_HEADER_SIZE } from "./constants.js";
import { ProtocolError } from "./errors.js";
import { FrameHeader } from "./header.js";
import { deriveSenderId } from "./identity.js";
import type { Rng } from "./runtime.js";

/** Something that signs with a device's Ed25519 key; the key never leaves it. */
export interface DeviceSigner {
  /** The 32-byte Ed25519 public key (also the MLS leaf signature key). */
  readonly publicKey: Uint8Array;
  /** A 64-byte Ed25519 signature over `data`. */
  sign(data: Uint8Array): Uint8Array;
}

/** A freshly generated device key: keep `seed` secret, publish `publicKey`. */
export interface DeviceKey {
  seed: Uint8Array;
  publicKey: Uint8Array;
  signer: DeviceSigner;
  /** `deriveSenderId(publicKey)`. */
  senderId: bigint;
}

// DER prefixes of RFC 8410 PKCS#8 private and SPKI public Ed25519 keys.
const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);
const SPKI_PREFIX = Uint8Array.from([
  0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
]);

function importPrivate(seed: Uint8Array): KeyObject {
  const der = new Uint8Array(PKCS8_PREFIX.length + 32);
  der.set(PKCS8_PREFIX);
  der.set(seed, PKCS8_PREFIX.length);
  try {
    return createPrivateKey({ key: Buffer.from(der.buffer), format: "der", type: "pkcs8" });
  } finally {
    der.fill(0); // the seed copy is spent
  }
}

function importPublic(publicKey: Uint8Array): KeyObject {
  const der = new Uint8Array(SPKI_PREFIX.length + 32);
  der.set(SPKI_PREFIX);
  der.set(publicKey, SPKI_PREFIX.length);
  return createPublicKey({ key: Buffer.from(der.buffer), format: "der", type: "spki" });
}

function checkKey(name: string, key: unknown): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== 32) {
    throw new TypeError(`"${name}" expected Uint8Array of length 32`);
  }
}

/** A signer for the Ed25519 key whose 32-byte private seed is given (RFC 8032 §5.1.5). */
export function createDeviceSigner(privateKeySeed32: Uint8Array): DeviceSigner {
  checkKey("privateKeySeed32", privateKeySeed32);
  const key = importPrivate(privateKeySeed32);
  const spki = createPublicKey(key).export({ format: "der", type: "spki" });
  const publicKey = new Uint8Array(spki.subarray(spki.length - 32));
  return {
    publicKey,
    sign(data: Uint8Array): Uint8Array {
      if (!(data instanceof Uint8Array)) throw new TypeError('"data" expected Uint8Array');
      const sig = sign(null, data, key);
      return new Uint8Array(sig.buffer, sig.byteOffset, sig.byteLength);
    },
  };
}

/** A new device key from `rng` (seeded in simulation, `systemRng` in production). */
export function generateDeviceKey(rng: Rng): DeviceKey {
  const seed = rng.bytes(32);
  checkKey("rng.bytes(32)", seed);
  const signer = createDeviceSigner(seed);
  return { seed, publicKey: signer.publicKey, signer, senderId: deriveSenderId(signer.publicKey) };
}

/** Header and payload of a frame, whether or not they share a buffer. */
interface FrameParts {
  readonly header: FrameHeader;
  readonly payload: Uint8Array;
}

function writeSignedView(header: Uint8Array, payload: Uint8Array, out: Uint8Array): void {
  out.set(header.subarray(0, SIGNED_HEADER_SIZE));
  out.fill(0, Offset.LOG_INDEX, Offset.EPOCH); // log_index and hlc_timestamp
  out.set(payload, SIGNED_HEADER_SIZE);
}

function splitFrameBytes(frameBytes: Uint8Array): FrameParts {
  const header = FrameHeader.view(frameBytes);
  const end = HEADER_SIZE + header.payloadSize;
  if (frameBytes.length < end) {
    throw new ProtocolError("TRUNCATED", `frame needs ${end} bytes, got ${frameBytes.length}`);
  }
  return { header, payload: frameBytes.subarray(HEADER_SIZE, end) };
}

/**
 * The exact bytes a frame's signature covers: header 0..64 with log_index and
 * hlc_timestamp zeroed, then the `payload_size` bytes after the header. Allocates.
 */
export function signedView(frameBytes: Uint8Array): Uint8Array {
  if (!(frameBytes instanceof Uint8Array)) throw new TypeError('"frameBytes" expected Uint8Array');
  const { header, payload } = splitFrameBytes(frameBytes);
  const out = new Uint8Array(SIGNED_HEADER_SIZE + payload.length);
  writeSignedView(header.bytes, payload, out);
  return out;
}

/** Sign a whole frame (header + payload) in place: writes bytes 64..128. */
export function signFrame(frameBytes: Uint8Array, signer: DeviceSigner): void {
  const view = signedView(frameBytes);
  const sig = signer.sign(view);
  if (!(sig instanceof Uint8Array) || sig.length !== SIGNATURE_SIZE) {
    throw new TypeError("signer.sign must return 64 bytes");
  }
  frameBytes.set(sig, Offset.SIGNATURE);
}

/** Payloads up to this size are verified without allocating (the scratch is kept). */
export const SCRATCH_RETAIN = 1 << 20;
let scratch = new Uint8Array(4096);

function scratchFor(n: number): Uint8Array {
  if (n <= scratch.length) return scratch.subarray(0, n);
  if (n > SCRATCH_RETAIN) return new Uint8Array(n);
  let size = scratch.length;
  while (size < n) size *= 2;
  scratch = new Uint8Array(size);
  return scratch.subarray(0, n);
}

/** Imported public keys, most recently used last; bounded so a flood of keys costs O(1) memory. */
const KEY_CACHE_MAX = 4096;
const keyCache = new Map<string, KeyObject>();

function publicKeyObject(publicKey: Uint8Array): KeyObject | undefined {
  const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, 32).toString("latin1");
  const hit = keyCache.get(id);
  if (hit !== undefined) {
    keyCache.delete(id);
    keyCache.set(id, hit);
    return hit;
  }
  let key: KeyObject;
  try {
    key = importPublic(publicKey);
  } catch {
    return undefined; // not a valid encoding: nothing verifies against it
  }
  keyCache.set(id, key);
  if (keyCache.size > KEY_CACHE_MAX) {
    const oldest = keyCache.keys().next().value;
    if (oldest !== undefined) keyCache.delete(oldest);
  }
  return key;
}

/**
 * True when the frame's signature is a valid Ed25519 signature by `publicKey32` over its
 * signed view. Never throws for a bad signature or an invalid key (returns false); throws
 * TypeError only when `publicKey32` is not 32 bytes.
 */
export function verifyFrame(frame: FrameParts, publicKey32: Uint8Array): boolean {
  checkKey("publicKey32", publicKey32);
  const key = publicKeyObject(publicKey32);
  if (key === undefined) return false;
  const { header, payload } = frame;
  const view = scratchFor(SIGNED_HEADER_SIZE + payload.length);
  writeSignedView(header.bytes, payload, view);
  try {
    return verify(null, view, key, header.signature);
  } catch {
    return false;
  }
}

/** `verifyFrame` that throws ProtocolError BAD_SIGNATURE instead of returning false. */
export function assertFrameSignature(frame: FrameParts, publicKey32: Uint8Array): void {
  if (!verifyFrame(frame, publicKey32)) {
    throw new ProtocolError("BAD_SIGNATURE", "frame signature does not verify");
  }
}
