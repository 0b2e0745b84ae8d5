/**
 * The sender-key ratchet math (DESIGN §7), kept free of MLS and CBOR so that both the
 * full client (`EpochSenderKeys`) and the low-memory notification decryptor
 * (`@kalandra/client/notify`) import the very same code.
 *
 * Key schedule (docs/client.md, "Sender keys"):
 *
 *   CK_0(leaf)   = HKDF-SHA256(ikm = exporter_secret, salt = "",
 *                              info = "kalandraSenderV1" ‖ u32be(leaf), L = 32)
 *   MK_g         = HMAC-SHA256(CK_g, "kalandraSenderV1 key")
 *   CK_{g+1}     = HMAC-SHA256(CK_g, "kalandraSenderV1 chain")
 *   NONCE_g      = "kalandra"(8) ‖ epoch(8) ‖ leaf(4) ‖ generation(4)        (24 bytes)
 *   AD           = "kalandra/app/v1" ‖ room_id(16) ‖ epoch(8) ‖ leaf(4) ‖ generation(4)
 *   ciphertext   = XChaCha20-Poly1305(MK_g, NONCE_g, AD).seal(plaintext)
 *
 * The exporter secret is the MLS exporter output (RFC 9420 §8.5) the lifecycle code
 * computes with label "kalandra". Each MK_g seals exactly one message, so the nonce only
 * has to be unique per key, which any fixed value satisfies; deriving it from the
 * message's public coordinates costs nothing (no HMAC, no Rng), adds no bytes to the
 * wire, and keeps nonces distinct even across keys. Two HMACs per message.
 * Primitives: primitives.ts (node:crypto HKDF/HMAC/ChaCha20-Poly1305, @noble HChaCha20).
 */
import { hkdfExpand, hkdfExtract, hmacSha256, xchachaOpen, xchachaSeal } from "./primitives.js";

export const KEY_BYTES = 32;
export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;
/** Generations travel as u32 in the associated data. */
export const MAX_GENERATION = 0xffff_ffff;
export const MAX_ROOM_ID = (1n << 128n) - 1n;
export const MAX_EPOCH = (1n << 64n) - 1n;

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
export const SENDER_INFO_LABEL = "kalandraSenderV1";
export const AD_LABEL = "kalandra/app/v1";
const INFO_PREFIX = ascii(SENDER_INFO_LABEL);
const LABEL_KEY = ascii("kalandraSenderV1 key");
const LABEL_CHAIN = ascii("kalandraSenderV1 chain");
const AD_PREFIX = ascii(AD_LABEL);
export const AD_BYTES = AD_PREFIX.length + 16 + 8 + 4 + 4;
const EMPTY = new Uint8Array(0);

export const NONCE_LABEL = "kalandra";
const NONCE_PREFIX = ascii(NONCE_LABEL);

export function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= MAX_GENERATION;
}

/** CK_0 for `leaf`: HKDF-SHA256 over the epoch's exporter secret (DESIGN §7). */
export function initialChainKey(exporterSecret: Uint8Array, leaf: number): Uint8Array {
  const prk = senderPrk(exporterSecret);
  try {
    return chainKeyFromPrk(prk, leaf);
  } finally {
    prk.fill(0);
  }
}

/**
 * The HKDF-Extract half of CK_0, shared by every leaf: deriving a whole epoch's chains
 * extracts once and expands per leaf. The caller wipes it.
 */
export function senderPrk(exporterSecret: Uint8Array): Uint8Array {
  if (exporterSecret.length !== KEY_BYTES) {
    throw new RangeError(`"exporterSecret" expected Uint8Array of length ${KEY_BYTES}`);
  }
  return hkdfExtract(EMPTY, exporterSecret);
}

/** The HKDF-Expand half of CK_0 for `leaf`. */
export function chainKeyFromPrk(prk: Uint8Array, leaf: number): Uint8Array {
  if (!isU32(leaf)) throw new RangeError(`"leaf" expected u32, got ${leaf}`);
  const info = new Uint8Array(INFO_PREFIX.length + 4);
  info.set(INFO_PREFIX, 0);
  new DataView(info.buffer).setUint32(INFO_PREFIX.length, leaf);
  return hkdfExpand(prk, info, KEY_BYTES);
}

/** MK_g from CK_g; CK_g itself is left untouched. The caller wipes MK_g after use. */
export function messageKey(chainKey: Uint8Array): Uint8Array {
  return hmacSha256(chainKey, LABEL_KEY);
}

/** NONCE_g: public, unique per (epoch, leaf, generation). */
export function messageNonce(epoch: bigint, leaf: number, generation: number): Uint8Array {
  const n = new Uint8Array(NONCE_BYTES);
  n.set(NONCE_PREFIX, 0);
  const v = new DataView(n.buffer);
  v.setBigUint64(8, epoch);
  v.setUint32(16, leaf);
  v.setUint32(20, generation);
  return n;
}

/** CK_{g+1} from CK_g; the caller wipes CK_g once it no longer needs it. */
export function nextChainKey(chainKey: Uint8Array): Uint8Array {
  return hmacSha256(chainKey, LABEL_CHAIN);
}

/**
 * Advances a chain key `steps` times without touching the input; intermediate keys are
 * wiped. Used by the notification decryptor, which keeps no skipped keys.
 */
export function advance(chainKey: Uint8Array, steps: number): Uint8Array {
  let ck: Uint8Array = chainKey.slice();
  for (let i = 0; i < steps; i++) {
    const next = nextChainKey(ck);
    ck.fill(0);
    ck = next;
  }
  return ck;
}

/** The associated data binding room, epoch, sender and generation to a ciphertext. */
export function associatedData(
  roomId: bigint,
  epoch: bigint,
  leaf: number,
  generation: number,
): Uint8Array {
  const ad = new Uint8Array(AD_BYTES);
  ad.set(AD_PREFIX, 0);
  const v = new DataView(ad.buffer);
  let o = AD_PREFIX.length;
  v.setBigUint64(o, roomId >> 64n);
  v.setBigUint64(o + 8, roomId & 0xffff_ffff_ffff_ffffn);
  o += 16;
  v.setBigUint64(o, epoch);
  o += 8;
  v.setUint32(o, leaf);
  v.setUint32(o + 4, generation);
  return ad;
}

export function sealWith(
  mk: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  return xchachaSeal(mk, nonce, ad, plaintext);
}

/** Opens a ciphertext; `undefined` when authentication fails (forged or truncated). */
export function openWith(
  mk: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array | undefined {
  if (ciphertext.length < TAG_BYTES) return undefined;
  return xchachaOpen(mk, nonce, ad, ciphertext);
}
