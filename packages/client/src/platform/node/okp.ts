/**
 * Importing X25519 / Ed25519 keys into OpenSSL quickly. node:crypto offers DER (PKCS#8,
 * SPKI) and JWK imports; on Node 20 / OpenSSL 3 the DER decoders cost 90-600 µs per key
 * while the JWK path (raw key bytes straight into EVP_PKEY_new_raw_*_key) costs 7-70 µs,
 * and exporting a public key as JWK costs ~1 µs against ~90 µs for SPKI. Key import
 * was the largest cost of a commit in the first profile (docs/performance.md).
 *
 * A private JWK needs `x`, but Node derives the key pair from `d` alone, so we pass a
 * placeholder and read the real public key back. That relies on Node ignoring `x`; a
 * self-check against RFC 7748 / RFC 8032 vectors runs once, and if a Node version
 * behaves differently (rejects or keeps the placeholder) we use the DER path instead.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { concatBytes as concat, ED25519_PKCS8_PREFIX, ED25519_SPKI_PREFIX } from "@kalandra/proto";

export type OkpCurve = "X25519" | "Ed25519";

const PKCS8_PREFIX: Record<OkpCurve, Uint8Array> = {
  X25519: Uint8Array.from(Buffer.from("302e020100300506032b656e04220420", "hex")),
  Ed25519: ED25519_PKCS8_PREFIX,
};
const SPKI_PREFIX: Record<OkpCurve, Uint8Array> = {
  X25519: Uint8Array.from(Buffer.from("302a300506032b656e032100", "hex")),
  Ed25519: ED25519_SPKI_PREFIX,
};
const PLACEHOLDER_X = Buffer.alloc(32).toString("base64url");

const b64 = (b: Uint8Array) =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64url");

function viaJwk(crv: OkpCurve, d: Uint8Array): KeyObject {
  return createPrivateKey({ key: { kty: "OKP", crv, d: b64(d), x: PLACEHOLDER_X }, format: "jwk" });
}
function viaDer(crv: OkpCurve, d: Uint8Array): KeyObject {
  return createPrivateKey({
    key: Buffer.from(concat(PKCS8_PREFIX[crv], d)),
    format: "der",
    type: "pkcs8",
  });
}

let jwkPrivateOk: boolean | undefined;
/** Whether Node derives the public key from `d` (checked once against RFC vectors). */
function jwkPrivateWorks(): boolean {
  if (jwkPrivateOk === undefined) {
    const vectors: Array<[OkpCurve, string, string]> = [
      [
        "X25519", // RFC 7748 §6.1, Alice
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
      ],
      [
        "Ed25519", // RFC 8032 §7.1, test 1
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
      ],
    ];
    try {
      jwkPrivateOk = vectors.every(([crv, d, x]) => {
        const k = viaJwk(crv, Buffer.from(d, "hex"));
        return Buffer.from(okpPublicBytes(k)).toString("hex") === x;
      });
    } catch {
      jwkPrivateOk = false;
    }
  }
  return jwkPrivateOk;
}

/** A private KeyObject from the raw 32-byte key (X25519 scalar / Ed25519 seed). */
export function okpPrivateKey(crv: OkpCurve, d: Uint8Array): KeyObject {
  return jwkPrivateWorks() ? viaJwk(crv, d) : viaDer(crv, d);
}

/** A public KeyObject from the raw 32-byte public key. */
export function okpPublicKey(crv: OkpCurve, x: Uint8Array): KeyObject {
  if (x.length !== 32) throw new RangeError(`${crv} public key must be 32 bytes`);
  return createPublicKey({ key: { kty: "OKP", crv, x: b64(x) }, format: "jwk" });
}

/** The raw 32-byte public key of a private or public OKP KeyObject. */
export function okpPublicBytes(key: KeyObject): Uint8Array {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  const { x } = pub.export({ format: "jwk" });
  if (typeof x !== "string") throw new TypeError("not an OKP key");
  return Uint8Array.from(Buffer.from(x, "base64url"));
}

/** For tests: SPKI DER of a raw public key (the slow, obviously-correct path). */
export function okpSpki(crv: OkpCurve, x: Uint8Array): Buffer {
  return Buffer.from(concat(SPKI_PREFIX[crv], x));
}

/** For tests: force the DER path (`false`), the JWK path (`true`) or re-detect (`undefined`). */
export function setJwkPrivateImportForTests(v: boolean | undefined): void {
  jwkPrivateOk = v;
}
