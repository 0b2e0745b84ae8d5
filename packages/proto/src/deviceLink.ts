/**
 * Device links (DESIGN §10, docs/identity.md): how a user adds a further device. One of
 * the user's active devices signs `{device_key, user_id, expires_at, nonce, signer_key}`;
 * the new device presents the link in HELLO as `auth: {method: "device_link", credential}`
 * and the hub checks that the signer is an active device of that user, the link is for the
 * presenting device, unexpired and used once (its nonce).
 *
 * Wire form: a CBOR map, the fields above plus `signature` (Ed25519, 64 bytes) over
 * "kalandra/device-link/v1" ‖ the CBOR map without `signature` (schema order, so the
 * encoding is deterministic).
 *
 * @example
 * const link = signDeviceLink(myDevice.signer, { device_key: newKey, user_id: "alice@hub",
 *   expires_at: now + 300n, nonce: rng.bytes(16) });
 * hello.auth = { method: "device_link", credential: link };
 */
import { cborDecode, cborEncode } from "./cbor.js";
import { checkStrictCbor } from "./cborCheck.js";
import { type DeviceSigner, ed25519Verify } from "./ed25519.js";
import { ProtocolError } from "./errors.js";
import { bytes, type InferShape, struct, text, u64 } from "./payloads/schema.js";

const DOMAIN = new TextEncoder().encode("kalandra/device-link/v1");

const body = struct({
  device_key: bytes(32),
  user_id: text(),
  expires_at: u64(),
  nonce: bytes(16),
  signer_key: bytes(32),
});
const signed = struct({ ...body.shape, signature: bytes(64) });

/** What a link says (without its signature). */
export type DeviceLinkBody = InferShape<typeof body.shape>;
/** A decoded link. */
export type DeviceLink = InferShape<typeof signed.shape>;

function signedBytes(link: DeviceLinkBody): Uint8Array {
  const b = cborEncode(body.toCbor(link, "device_link"));
  const out = new Uint8Array(DOMAIN.length + b.length);
  out.set(DOMAIN, 0);
  out.set(b, DOMAIN.length);
  return out;
}

/** Signs a link with an existing device of the user (`signer_key` is the signer's key). */
export function signDeviceLink(
  signer: DeviceSigner,
  link: Omit<DeviceLinkBody, "signer_key">,
): Uint8Array {
  const full: DeviceLinkBody = { ...link, signer_key: signer.publicKey };
  const signature = signer.sign(signedBytes(full));
  return cborEncode(signed.toCbor({ ...full, signature }, "device_link"));
}

/** Decodes a link; ProtocolError BAD_PAYLOAD when it is not one. Does not check the signature. */
export function decodeDeviceLink(bytes_: Uint8Array): DeviceLink {
  let v: unknown;
  try {
    checkStrictCbor(bytes_);
    v = cborDecode(bytes_);
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    throw new ProtocolError("BAD_PAYLOAD", "device_link: malformed CBOR");
  }
  return signed.fromCbor(v, "device_link");
}

/** True when the link's signature verifies against its `signer_key`. */
export function deviceLinkSignatureValid(link: DeviceLink): boolean {
  const { signature, ...rest } = link;
  return ed25519Verify(link.signer_key, signedBytes(rest), signature);
}
