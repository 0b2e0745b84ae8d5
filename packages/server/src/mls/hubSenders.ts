/**
 * The one GroupContextExtensions change the hub accepts (RFC 9420 §12.1.7): a room's hub
 * enlisting more hubs as MLS external senders (§12.1.8.1), so that whichever hub sequences
 * a federated room after a transfer or failover can sign the Remove proposals of a kick
 * (DESIGN §6, §11; docs/federation.md "Kicks across hubs").
 *
 * Rules, so that no one can take the hub's power away or change the group otherwise:
 * - only an external sender (a hub already listed) proposes it, never a member, and it is
 *   committed by reference (a commit cannot carry it by value);
 * - the new external_senders list starts with the current one, in order, and only appends
 *   keys not yet listed (a hub once listed stays listed: no hub can drop another);
 * - every other extension of the GroupContext stays byte for byte as it was.
 */
import { encodeExternalSenders } from "ts-mls";
import type { Extension } from "ts-mls/extension.js";
import { externalSendersOf } from "ts-mls/externalSender.js";
import { bytesEqual } from "./crypto.js";
import { type MlsViewErrorCode, reject } from "./errors.js";

/** At most this many external senders in a room (one per participating hub). */
export const MAX_EXTERNAL_SENDERS = 32;

/** The credential identity hubs use in external_senders (client/src/mls/group.ts HUB_IDENTITY). */
const HUB_IDENTITY = new TextEncoder().encode("kalandra-hub");

function sendersOf(extensions: readonly Extension[], code: MlsViewErrorCode) {
  const exts = extensions.filter((e) => e.extensionType === "external_senders");
  if (exts.length !== 1) reject(code, "exactly one external_senders extension is required");
  const senders = externalSendersOf(exts);
  if (senders === undefined) reject(code, "external_senders extension does not decode");
  return senders;
}

/**
 * Checks a GroupContextExtensions proposal against the current extensions: only appends
 * external senders. Throws MlsViewError `code` otherwise; returns the appended keys.
 */
export function checkEnlisting(
  current: readonly Extension[],
  proposed: readonly Extension[],
  code: MlsViewErrorCode,
): Uint8Array[] {
  const before = sendersOf(current, code);
  const after = sendersOf(proposed, code);
  const others = (l: readonly Extension[]) =>
    l.filter((e) => e.extensionType !== "external_senders");
  const [keep, next] = [others(current), others(proposed)];
  if (
    keep.length !== next.length ||
    keep.some(
      (e, i) =>
        e.extensionType !== next[i]!.extensionType ||
        !bytesEqual(e.extensionData, next[i]!.extensionData),
    )
  )
    reject(code, "a GroupContextExtensions proposal may change external_senders only");
  if (after.length <= before.length || after.length > MAX_EXTERNAL_SENDERS)
    reject(code, "external_senders must grow, up to the limit");
  for (const [i, s] of before.entries()) {
    const n = after[i]!;
    if (
      !bytesEqual(s.signaturePublicKey, n.signaturePublicKey) ||
      s.credential.credentialType !== n.credential.credentialType
    )
      reject(code, "external_senders must keep every listed hub, in order");
  }
  const added = after.slice(before.length).map((s) => s.signaturePublicKey);
  const all = after.map((s) => s.signaturePublicKey);
  for (const [i, k] of all.entries()) {
    if (k.length !== 32) reject(code, "an external sender's key must be an Ed25519 key");
    if (all.findIndex((o) => bytesEqual(o, k)) !== i)
      reject(code, "an external sender listed twice");
  }
  return added;
}

/**
 * The GroupContext extensions with `keys` appended to external_senders (those not listed
 * yet), or undefined when every key is listed already. The hub builds its proposal with it.
 */
export function withHubSenders(
  current: readonly Extension[],
  keys: readonly Uint8Array[],
): Extension[] | undefined {
  const senders = sendersOf(current, "INVALID_PROPOSAL");
  const missing: Uint8Array[] = [];
  for (const k of keys) {
    const known = [...senders.map((s) => s.signaturePublicKey), ...missing];
    if (!known.some((o) => bytesEqual(o, k))) missing.push(k);
  }
  if (missing.length === 0) return undefined;
  const list = [
    ...senders,
    ...missing.map((signaturePublicKey) => ({
      signaturePublicKey,
      credential: { credentialType: "basic" as const, identity: HUB_IDENTITY },
    })),
  ].slice(0, MAX_EXTERNAL_SENDERS);
  return current.map((e) =>
    e.extensionType === "external_senders"
      ? { extensionType: "external_senders", extensionData: encodeExternalSenders(list) }
      : e,
  );
}
