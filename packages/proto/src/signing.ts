/**
 * Ed25519 frame signatures (DESIGN §3; contracts.md "Identity"), on ed25519.ts.
 *
 * The signed bytes ("signed view") of a device's frame are header bytes 0..64 with
 * `log_index` (36..44) and `hlc_timestamp` (44..52) zeroed, followed by the payload: the
 * sequencer can stamp order and time without breaking the sender's signature. A frame with
 * `sender_id` 0 is the hub's, and its view is the whole header 0..64 with the payload:
 * a hub's ACK is a proof of position, and an authority's frames to peer hubs bind each
 * frame's position under its key (DESIGN §3, §11). So the hub signs its own sequenced
 * frames after stamping them. The signature itself (64..128) is never covered.
 *
 * Cost of verification: Ed25519 (PureEdDSA, RFC 8032 §5.1) hashes the whole message twice
 * and node's `crypto.verify` takes one contiguous buffer, while on the wire the signature
 * sits between the header and the payload. So the view is assembled in a module-level
 * scratch buffer: one memcpy of the payload (a few GB/s, cheap next to SHA-512 over the
 * same bytes) and no allocation for payloads up to {@link SCRATCH_RETAIN} bytes.
 */

import { HEADER_SIZE, Offset, SIGNATURE_SIZE, SIGNED_HEADER_SIZE } from "./constants.js";
import { checkKey, createDeviceSigner, type DeviceSigner, ed25519Verify } from "./ed25519.js";
import { ProtocolError } from "./errors.js";
import { FrameHeader } from "./header.js";
import { deriveSenderId } from "./identity.js";
import type { Rng } from "./runtime.js";

/** A freshly generated device key: keep `seed` secret, publish `publicKey`. */
export interface DeviceKey {
  seed: Uint8Array;
  publicKey: Uint8Array;
  signer: DeviceSigner;
  /** `deriveSenderId(publicKey)`. */
  senderId: bigint;
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

/** True when the header's `sender_id` (bytes 28..36) is 0: the hub signed the whole header. */
function isHubSigned(header: Uint8Array): boolean {
  for (let i = Offset.SENDER_ID; i < Offset.LOG_INDEX; i++) if (header[i] !== 0) return false;
  return true;
}

function writeSignedView(header: Uint8Array, payload: Uint8Array, out: Uint8Array): void {
  out.set(header.subarray(0, SIGNED_HEADER_SIZE));
  // A device's signature leaves the sequencer's stamp (log_index, hlc_timestamp) out.
  if (!isHubSigned(header)) out.fill(0, Offset.LOG_INDEX, Offset.EPOCH);
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
 * The exact bytes a frame's signature covers: header 0..64 (with log_index and
 * hlc_timestamp zeroed unless `sender_id` is 0, the hub), then the `payload_size` bytes
 * after the header. Allocates.
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

/**
 * True when the frame's signature is a valid Ed25519 signature by `publicKey32` over its
 * signed view. Never throws for a bad signature or an invalid key (returns false); throws
 * TypeError only when `publicKey32` is not 32 bytes.
 */
export function verifyFrame(frame: FrameParts, publicKey32: Uint8Array): boolean {
  checkKey("publicKey32", publicKey32);
  const { header, payload } = frame;
  const view = scratchFor(SIGNED_HEADER_SIZE + payload.length);
  writeSignedView(header.bytes, payload, view);
  return ed25519Verify(publicKey32, view, header.signature);
}

/** `verifyFrame` that throws ProtocolError BAD_SIGNATURE instead of returning false. */
export function assertFrameSignature(frame: FrameParts, publicKey32: Uint8Array): void {
  if (!verifyFrame(frame, publicKey32)) {
    throw new ProtocolError("BAD_SIGNATURE", "frame signature does not verify");
  }
}
