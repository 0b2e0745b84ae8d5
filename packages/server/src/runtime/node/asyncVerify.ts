/**
 * Frame signature verification off the calling thread (docs/performance.md "Sequencer").
 *
 * An Ed25519 verification costs ~120 µs of CPU with node:crypto: on the thread that reads
 * the sockets and sequences, it would cap a hub at a few thousand frames per second.
 * node:crypto's `verify(null, data, key, signature, callback)` runs the same OpenSSL check
 * on libuv's thread pool. The result is the same as proto's `verifyFrame` (same signed
 * view, DESIGN §3); callers keep their frames in arrival order themselves (session.ts).
 */
import { createPublicKey, type KeyObject, verify } from "node:crypto";
import { type Frame, signedView } from "@kalandra/proto";

// RFC 8410 SPKI prefix of an Ed25519 public key (the 32 key bytes follow).
const SPKI_PREFIX = Uint8Array.from([
  0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
]);

/** Imported keys, most recently used last; bounded so a flood of keys costs O(1) memory. */
const KEY_CACHE_MAX = 4096;
const keys = new Map<string, KeyObject | null>();

function keyObject(publicKey: Uint8Array): KeyObject | null {
  const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.length).toString(
    "latin1",
  );
  const hit = keys.get(id);
  if (hit !== undefined) {
    keys.delete(id);
    keys.set(id, hit);
    return hit;
  }
  let key: KeyObject | null = null;
  if (publicKey.length === 32) {
    const der = new Uint8Array(SPKI_PREFIX.length + 32);
    der.set(SPKI_PREFIX);
    der.set(publicKey, SPKI_PREFIX.length);
    try {
      key = createPublicKey({ key: Buffer.from(der.buffer), format: "der", type: "spki" });
    } catch {
      key = null; // not a valid encoding: nothing verifies against it
    }
  }
  keys.set(id, key);
  if (keys.size > KEY_CACHE_MAX) {
    const oldest = keys.keys().next().value;
    if (oldest !== undefined) keys.delete(oldest);
  }
  return key;
}

/**
 * Calls `done(true)` when the frame's signature is a valid Ed25519 signature by
 * `publicKey` over its signed view, `done(false)` otherwise; always asynchronously, never
 * throws.
 */
export function verifyFrameAsync(
  frame: Frame,
  publicKey: Uint8Array,
  done: (ok: boolean) => void,
): void {
  const key = keyObject(publicKey);
  let view: Uint8Array;
  try {
    if (key === null) throw new Error("invalid key");
    view = signedView(frame.toWire());
  } catch {
    queueMicrotask(() => done(false));
    return;
  }
  try {
    verify(null, view, key, frame.header.signature, (err, ok) => done(err === null && ok));
  } catch {
    queueMicrotask(() => done(false));
  }
}
