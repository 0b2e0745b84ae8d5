/**
 * Signing a hub frame, synchronously or off the calling thread (DESIGN §2: the core knows
 * the interface, the Node runtime's signing thread implements it, runtime/node/shards/
 * hubSigner.ts). The signature is the same either way (Ed25519 is deterministic, RFC 8032
 * §5.1.6); only where the CPU time is spent changes. Signers without `signAsync` (the
 * simulation's, tests') are used synchronously, so the deterministic runtime keeps its
 * exact event order.
 */
import { SIGNED_HEADER_SIZE, signedView } from "@kalandra/proto";
import type { FrameSigner } from "./wire.js";

export type SignCallback = (err: Error | null, signature?: Uint8Array) => void;

/** A FrameSigner that can also sign off the calling thread. */
export interface AsyncFrameSigner extends FrameSigner {
  /** Signs `data` off the calling thread; `cb` gets the 64-byte signature or an error. */
  signAsync(data: Uint8Array, cb: SignCallback): void;
  /** Stops the signing thread (it never keeps the process alive; this frees it early). */
  close(): Promise<void>;
}

export function isAsyncSigner(s: FrameSigner): s is AsyncFrameSigner {
  return typeof (s as Partial<AsyncFrameSigner>).signAsync === "function";
}

const SIGNATURE_OFFSET = SIGNED_HEADER_SIZE;

/**
 * Signs a whole frame (built with a zero signature) in place, on the thread pool when the
 * signer can; `done` runs once bytes 64..128 hold the signature (synchronously for a
 * signer without `signAsync`). A failed thread-pool signature is retried here; if that
 * throws too, the hub's key is unusable and the error propagates (fail-stop: nothing of
 * the frame was acknowledged or written).
 */
export function signFrameInPlace(signer: FrameSigner, frame: Uint8Array, done: () => void): void {
  const view = signedView(frame);
  if (!isAsyncSigner(signer)) {
    frame.set(signer.sign(view), SIGNATURE_OFFSET);
    done();
    return;
  }
  signer.signAsync(view, (err, sig) => {
    if (err !== null || sig === undefined || sig.length !== 64) sig = signer.sign(view);
    frame.set(sig, SIGNATURE_OFFSET);
    done();
  });
}
