/**
 * The runtime's side of the wire format: @kalandra/proto does the codec work (header,
 * stream decoding with a hard size limit, payload schemas, Ed25519 signatures, the frames
 * the hub emits); this module holds the hub's own key as the runtime keeps it.
 */
import type { KeyObject } from "node:crypto";
import { type DeviceSigner, FrameHeader, type HeaderFields } from "@kalandra/proto";
import { ed25519KeySigner } from "@kalandra/proto/node";

export { HEADER_SIZE, MAGIC } from "@kalandra/proto";

export interface HubKey {
  privateKey: KeyObject;
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
}

const signers = new WeakMap<KeyObject, DeviceSigner>();

/** The signer of the hub key (made once per key object), for proto's frame builders. */
export function hubKeySigner(hub: HubKey): DeviceSigner {
  let s = signers.get(hub.privateKey);
  if (!s) {
    s = ed25519KeySigner(hub.privateKey);
    signers.set(hub.privateKey, s);
  }
  return s;
}

/** Plain header fields of a whole frame (convenience for tests and logs). */
export function readHeader(frame: Uint8Array): Required<HeaderFields> {
  return FrameHeader.view(frame).toFields();
}
