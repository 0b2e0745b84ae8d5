import { sha256 } from "#platform/sha256";

const SENDER_ID_DOMAIN = new TextEncoder().encode("kalandra/sender-id/v1");
const TOP_BIT_CLEAR = 0x7fff_ffff_ffff_ffffn;

/** The hub's own sender_id: frames it emits carry 0 (DESIGN §3). */
export const HUB_SENDER_ID = 0n;

/**
 * A device's `sender_id`, derived from its Ed25519 public key so the hub and every member
 * can check it without a registry: the first 8 bytes (big-endian) of
 * SHA-256("kalandra/sender-id/v1" ‖ publicKey) with the top bit cleared; 0 maps to 1
 * because 0 is the hub.
 */
export function deriveSenderId(publicKey: Uint8Array): bigint {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    throw new TypeError('"publicKey" expected Uint8Array of length 32');
  }
  const digest = sha256(SENDER_ID_DOMAIN, publicKey);
  const id = new DataView(digest.buffer, digest.byteOffset, 8).getBigUint64(0) & TOP_BIT_CLEAR;
  return id === 0n ? 1n : id;
}
