/**
 * Frame signature verification off the calling thread (docs/performance.md "Sequencer").
 *
 * An Ed25519 verification costs ~120 µs of CPU with node:crypto: on the thread that reads
 * the sockets and sequences, it would cap a hub at a few thousand frames per second.
 * node:crypto's `verify(null, data, key, signature, callback)` runs the same OpenSSL check
 * on libuv's thread pool. The result is the same as proto's `verifyFrame` (same signed
 * view, DESIGN §3); callers keep their frames in arrival order themselves (session.ts).
 */
import { ed25519VerifyAsync, type Frame, signedView } from "@kalandra/proto";

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
  let view: Uint8Array;
  try {
    view = signedView(frame.toWire());
  } catch {
    queueMicrotask(() => done(false));
    return;
  }
  ed25519VerifyAsync(publicKey, view, frame.header.signature, done);
}
