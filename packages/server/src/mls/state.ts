/**
 * What the hub knows of a group in one epoch: the GroupContext, the interim transcript hash
 * (so it can compute the next epoch's confirmed transcript hash, RFC 9420 §8.2), the public
 * ratchet tree, and the external senders. No secret of the group is here, nor derivable.
 */
import { externalSendersOf } from "ts-mls/externalSender.js";
import type { GroupContext } from "ts-mls/groupContext.js";
import { sha256, varintPrefix } from "./crypto.js";
import { type MlsViewErrorCode, reject } from "./errors.js";
import type { KeySlot } from "./keyIndex.js";
import type { PublicTree } from "./tree.js";

export interface GroupState {
  readonly context: GroupContext;
  readonly interimTranscriptHash: Uint8Array;
  readonly tree: PublicTree;
  /** The tree's key index, carried to the next epoch by a commit check (keyIndex.ts). */
  readonly keys: KeySlot;
}

/** interim_transcript_hash = H(confirmed_transcript_hash ‖ confirmation_tag<V>) (RFC 9420 §8.2). */
export function interimHash(
  confirmedTranscriptHash: Uint8Array,
  confirmationTag: Uint8Array,
): Uint8Array {
  return sha256(confirmedTranscriptHash, varintPrefix(confirmationTag.length), confirmationTag);
}

/**
 * Signature keys of the external senders, in sender-index order. RFC 9420 §12.1.8.1: one
 * `external_senders` extension holding the list `ExternalSender external_senders<V>`, and a
 * sender's index is its position in that list. Rooms created before issue 13 hold one bare
 * ExternalSender there for their whole life (the GroupContext cannot change without a commit
 * the hub refuses); the patched ts-mls reads that form too, as index 0, like the clients.
 */
export function externalSenderKeys(context: GroupContext, code: MlsViewErrorCode): Uint8Array[] {
  const exts = context.extensions.filter((e) => e.extensionType === "external_senders");
  if (exts.length > 1) reject(code, "more than one external_senders extension");
  const senders = externalSendersOf(exts);
  if (senders === undefined) reject(code, "external_senders extension does not decode");
  return senders.map((s) => s.signaturePublicKey);
}
