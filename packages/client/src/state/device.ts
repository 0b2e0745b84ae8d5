/**
 * Device identity (docs/contracts.md "Identity"): one Ed25519 key pair whose public key
 * is both the frame-signing key and the MLS leaf `signaturePublicKey`, so every member
 * checks a frame's signature against the sender's leaf in its own ratchet tree.
 * `sender_id` is derived from that key; the credential is a BasicCredential carrying the
 * UTF-8 user id.
 */
import {
  type Clock,
  createDeviceSigner,
  type DeviceSigner,
  deriveSenderId,
  type Rng,
  stateCborDecode,
  stateCborEncode,
  toHex,
} from "@kalandra/proto";
import {
  type CiphersuiteImpl,
  type Credential,
  defaultCapabilities,
  generateKeyPackageWithKey,
  type KeyPackage,
  type PrivateKeyPackage,
} from "ts-mls";
import { decodeKeyPackage, encodeKeyPackage, makeKeyPackageRef } from "ts-mls/keyPackage.js";

/** Default key package lifetime: 90 days (RFC 9420 §10.1 leaves it to the application). */
export const KEY_PACKAGE_LIFETIME_S = 90n * 24n * 3600n;

export interface Device {
  readonly userId: string;
  readonly senderId: bigint;
  readonly publicKey: Uint8Array;
  readonly signer: DeviceSigner;
  readonly credential: Credential;
  /** The same key in the form ts-mls signs with (RFC 9420 §5.1.2 leaf signature key). */
  readonly mlsSignatureKeys: { signKey: Uint8Array; publicKey: Uint8Array };
  /** Zeroes the private seed held by this object. */
  destroy(): void;
}

/** Builds a device from its 32-byte Ed25519 seed. */
export function deviceFromSeed(userId: string, seed: Uint8Array): Device {
  if (seed.length !== 32) throw new TypeError('"seed" expected Uint8Array of length 32');
  const own = seed.slice();
  const signer = createDeviceSigner(own);
  return {
    userId,
    senderId: deriveSenderId(signer.publicKey),
    publicKey: signer.publicKey,
    signer,
    credential: { credentialType: "basic", identity: new TextEncoder().encode(userId) },
    // ts-mls accepts a raw 32-byte Ed25519 seed as the signing key.
    mlsSignatureKeys: { signKey: own, publicKey: signer.publicKey },
    destroy: () => own.fill(0),
  };
}

/** A fresh device with a seed drawn from the injected `Rng`. */
export function generateDevice(userId: string, rng: Rng): Device {
  const seed = rng.bytes(32);
  const device = deviceFromSeed(userId, seed);
  seed.fill(0);
  return device;
}

export function encodeDeviceRecord(userId: string, device: Device): Uint8Array {
  return stateCborEncode({ user_id: userId, seed: device.mlsSignatureKeys.signKey });
}

export function decodeDeviceRecord(bytes: Uint8Array): Device {
  const rec = stateCborDecode(bytes) as { user_id: string; seed: Uint8Array };
  return deviceFromSeed(rec.user_id, new Uint8Array(rec.seed));
}

/** One generated key package with the private keys the device keeps until it is used. */
export interface OwnKeyPackage {
  ref: string;
  publicPackage: KeyPackage;
  privatePackage: PrivateKeyPackage;
  /**
   * The device's last-resort package (RFC 9420 §16.8): the hub hands it out again when
   * the one-shot ones are gone, so its private keys stay until it expires.
   */
  lastResort?: boolean;
  /** A Welcome used this last-resort package: a fresh one replaces it at the hub. */
  used?: boolean;
}

/** Generates `count` key packages signed by the device key (RFC 9420 §10). */
export async function generateKeyPackages(
  device: Device,
  count: number,
  clock: Clock,
  cs: CiphersuiteImpl,
): Promise<OwnKeyPackage[]> {
  const nowS = clock.now() / 1000n;
  const lifetime = { notBefore: nowS - 3600n, notAfter: nowS + KEY_PACKAGE_LIFETIME_S };
  const out: OwnKeyPackage[] = [];
  for (let i = 0; i < count; i++) {
    const kp = await generateKeyPackageWithKey(
      device.credential,
      defaultCapabilities(),
      lifetime,
      [],
      device.mlsSignatureKeys,
      cs,
    );
    out.push({ ref: toHex(await makeKeyPackageRef(kp.publicPackage, cs.hash)), ...kp });
  }
  return out;
}

export async function keyPackageRefHex(kp: KeyPackage, cs: CiphersuiteImpl): Promise<string> {
  return toHex(await makeKeyPackageRef(kp, cs.hash));
}

export function encodeOwnKeyPackage(kp: OwnKeyPackage): Uint8Array {
  return stateCborEncode({
    public: encodeKeyPackage(kp.publicPackage),
    init: kp.privatePackage.initPrivateKey,
    hpke: kp.privatePackage.hpkePrivateKey,
    ...(kp.lastResort === true ? { last_resort: true, used: kp.used === true } : {}),
  });
}

export function decodeOwnKeyPackage(bytes: Uint8Array, ref: string, device: Device): OwnKeyPackage {
  const rec = stateCborDecode(bytes) as {
    public: Uint8Array;
    init: Uint8Array;
    hpke: Uint8Array;
    last_resort?: boolean;
    used?: boolean;
  };
  const decoded = decodeKeyPackage(new Uint8Array(rec.public), 0);
  if (decoded === undefined) throw new Error("stored key package does not decode");
  const kp: OwnKeyPackage = {
    ref,
    publicPackage: decoded[0],
    privatePackage: {
      initPrivateKey: new Uint8Array(rec.init),
      hpkePrivateKey: new Uint8Array(rec.hpke),
      signaturePrivateKey: device.mlsSignatureKeys.signKey,
    },
  };
  if (rec.last_resort === true) {
    kp.lastResort = true;
    kp.used = rec.used === true;
  }
  return kp;
}
