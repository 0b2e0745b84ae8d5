/**
 * The KeyPackage directory (issue 3): devices upload MLS KeyPackages, others claim one per
 * device of a user to add that user to a group. A package is handed out once (RFC 9420
 * §16.8: KeyPackages are single-use); the device's last-resort package may be handed out
 * again when nothing else is left. When a device's stock falls below a threshold the hub
 * tells it with KP_STATUS so it uploads more.
 *
 * The hub checks what it can without secrets: the package decodes, is signed by the
 * leaf's signature key (RFC 9420 §10.1), that key is the uploading session's device key
 * (docs/contracts.md "Identity"), and the credential names the session's user.
 */
import { canary } from "@kalandra/proto";
import { decodeMlsMessage } from "ts-mls";
import { encodeKeyPackage, encodeKeyPackageTBS, type KeyPackage } from "ts-mls/keyPackage.js";
import { bytesEqual, refHash, verifyWithLabel } from "../mls/crypto.js";
import type { Storage, StoredKeyPackage } from "../storage/types.js";
import { type Refusal, refuse } from "../vocabulary/outcome.js";

export interface UploaderSession {
  senderId: bigint;
  deviceKey: Uint8Array;
  userId: string;
}

export interface KeyPackageLimits {
  /** KP_STATUS is sent when a device has fewer one-shot packages than this. */
  lowWatermark: number;
  /** Most packages accepted in one upload. */
  maxPerUpload: number;
  /**
   * One-shot packages stored per device (`limits.max_key_packages_per_device`): an upload
   * that would pass it is refused TOO_MANY_KEY_PACKAGES (issue 12: per-device quotas).
   */
  maxKeyPackagesPerDevice: number;
}

export const DEFAULT_KEY_PACKAGE_LIMITS: KeyPackageLimits = {
  lowWatermark: 10,
  maxPerUpload: 100,
  maxKeyPackagesPerDevice: 200,
};

export type UploadResult =
  | { ok: true; stored: number; remaining: number }
  | { ok: false; refusal: Refusal };
export type ClaimResult =
  | { ok: true; claims: { senderId: bigint; keyPackage: Uint8Array }[]; drained: bigint[] }
  | { ok: false; refusal: Refusal };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes and checks one uploaded package; a Refusal says why it is not acceptable. */
export function checkUploadedKeyPackage(
  bytes: Uint8Array,
  session: UploaderSession,
  nowSeconds: bigint,
): { ok: true; kp: KeyPackage; ref: Uint8Array } | { ok: false; refusal: Refusal } {
  let decoded: ReturnType<typeof decodeMlsMessage>;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch {
    decoded = undefined;
  }
  if (decoded === undefined || decoded[1] !== bytes.length) {
    return { ok: false, refusal: refuse("BAD_PAYLOAD", "not an MLSMessage") };
  }
  const msg = decoded[0];
  if (msg.wireformat !== "mls_key_package") {
    return { ok: false, refusal: refuse("BAD_PAYLOAD", "not a KeyPackage") };
  }
  const kp = msg.keyPackage;
  const leaf = kp.leafNode;
  if (!bytesEqual(leaf.signaturePublicKey, session.deviceKey)) {
    return { ok: false, refusal: refuse("SENDER_MISMATCH", "leaf key is not the device key") };
  }
  if (leaf.credential.credentialType !== "basic") {
    return { ok: false, refusal: refuse("BAD_PAYLOAD", "credential must be basic") };
  }
  let identity: string;
  try {
    identity = utf8.decode(leaf.credential.identity);
  } catch {
    return { ok: false, refusal: refuse("BAD_PAYLOAD", "identity is not UTF-8") };
  }
  // canary: simulation-only planted bug (DESIGN §8), the credential may name anyone.
  if (identity !== session.userId && !canary("kp_credential_unchecked")) {
    return { ok: false, refusal: refuse("SENDER_MISMATCH", "credential names another user") };
  }
  if (
    !verifyWithLabel(
      leaf.signaturePublicKey,
      "KeyPackageTBS",
      encodeKeyPackageTBS(kp),
      kp.signature,
    )
  ) {
    return { ok: false, refusal: refuse("BAD_SIGNATURE", "key package signature is invalid") };
  }
  if (leaf.leafNodeSource !== "key_package") {
    return { ok: false, refusal: refuse("BAD_PAYLOAD", "leaf node is not from a key package") };
  }
  if (leaf.lifetime.notAfter < nowSeconds) {
    return { ok: false, refusal: refuse("KEY_PACKAGE_EXPIRED", "key package lifetime is over") };
  }
  // KeyPackageRef, RFC 9420 §5.2.
  return { ok: true, kp, ref: refHash("MLS 1.0 KeyPackage Reference", encodeKeyPackage(kp)) };
}

export class KeyPackageDirectory {
  constructor(
    private readonly storage: Storage,
    private readonly limits: KeyPackageLimits = DEFAULT_KEY_PACKAGE_LIMITS,
  ) {}

  async upload(
    session: UploaderSession,
    packages: readonly Uint8Array[],
    lastResort: boolean,
    nowSeconds: bigint,
  ): Promise<UploadResult> {
    if (packages.length === 0 || packages.length > this.limits.maxPerUpload) {
      return {
        ok: false,
        refusal: refuse("BAD_PAYLOAD", `1..${this.limits.maxPerUpload} key packages per upload`),
      };
    }
    if (lastResort && packages.length !== 1) {
      return { ok: false, refusal: refuse("BAD_PAYLOAD", "one last-resort package at a time") };
    }
    const held = this.storage.countKeyPackages(session.senderId, nowSeconds);
    const max = this.limits.maxKeyPackagesPerDevice;
    if (!lastResort && held + packages.length > max) {
      const message = `a device may hold ${max} key packages (holds ${held}, uploads ${packages.length})`;
      return { ok: false, refusal: refuse("TOO_MANY_KEY_PACKAGES", message) };
    }
    const stored: StoredKeyPackage[] = [];
    for (const bytes of packages) {
      const r = checkUploadedKeyPackage(bytes, session, nowSeconds);
      if (!r.ok) return r;
      stored.push({
        ref: r.ref,
        senderId: session.senderId,
        userId: session.userId,
        data: new Uint8Array(bytes),
        lastResort,
        notAfter: r.kp.leafNode.lifetime.notAfter,
      });
    }
    await this.storage.putKeyPackages(stored);
    return {
      ok: true,
      stored: stored.length,
      remaining: this.storage.countKeyPackages(session.senderId, nowSeconds),
    };
  }

  /**
   * One package per device of `userId`. NO_KEY_PACKAGE when the user has no device with a
   * usable package; KEY_PACKAGE_EXPIRED when packages exist but all are past notAfter.
   * `drained` lists devices now below the low watermark (they get KP_STATUS).
   */
  async claim(userId: string, nowSeconds: bigint): Promise<ClaimResult> {
    const claims = this.unrevoked(await this.storage.claimKeyPackages(userId, nowSeconds));
    if (claims.length === 0) {
      // Expired packages are never handed out; tell the claimer which case it is. The probe
      // removes expired one-shot packages, which could never be used again anyway.
      const expired = this.unrevoked(await this.storage.claimKeyPackages(userId, 0n));
      const code = expired.length > 0 ? "KEY_PACKAGE_EXPIRED" : "NO_KEY_PACKAGE";
      return { ok: false, refusal: refuse(code, `no usable key package for ${userId}`) };
    }
    const drained = claims
      .map((c) => c.senderId)
      .filter((s) => this.storage.countKeyPackages(s, nowSeconds) < this.limits.lowWatermark);
    return {
      ok: true,
      claims: claims.map((c) => ({ senderId: c.senderId, keyPackage: c.data })),
      drained,
    };
  }

  /**
   * A revoked device's packages are never handed out (its one-shot ones are used up by the
   * claim that finds them): a commit adding it would be refused by the leaf binding, and
   * with it the adding of every other device of the user (identity/leafBinding.ts).
   */
  private unrevoked(claims: StoredKeyPackage[]): StoredKeyPackage[] {
    return claims.filter((c) => this.storage.getDevice(c.senderId)?.revokedAt === undefined);
  }

  /** One-shot packages left for a device. */
  remaining(senderId: bigint, nowSeconds: bigint): number {
    return this.storage.countKeyPackages(senderId, nowSeconds);
  }
}
