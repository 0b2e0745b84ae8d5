/**
 * What the hub knows of a group in one epoch: the GroupContext, the interim transcript hash
 * (so it can compute the next epoch's confirmed transcript hash, RFC 9420 §8.2), the public
 * ratchet tree, and the external senders. No secret of the group is here, nor derivable.
 */
import { decodeExternalSender } from "ts-mls/externalSender.js";
import type { GroupContext } from "ts-mls/groupContext.js";
import { sha256, varintPrefix } from "./crypto.js";
import { type MlsViewErrorCode, reject } from "./errors.js";
import type { PublicTree } from "./tree.js";

export interface GroupState {
  readonly context: GroupContext;
  readonly interimTranscriptHash: Uint8Array;
  readonly tree: PublicTree;
}

/** interim_transcript_hash = H(confirmed_transcript_hash ‖ confirmation_tag<V>) (RFC 9420 §8.2). */
export function interimHash(
  confirmedTranscriptHash: Uint8Array,
  confirmationTag: Uint8Array,
): Uint8Array {
  return sha256(confirmedTranscriptHash, varintPrefix(confirmationTag.length), confirmationTag);
}

/**
 * Signature keys of the external senders. Like ts-mls 1.6.4 (publicMessage.js
 * senderFromExtension), each `external_senders` extension holds one ExternalSender and a
 * sender's index is the position of its extension; the hub must agree with its clients.
 */
export function externalSenderKeys(context: GroupContext, code: MlsViewErrorCode): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const ext of context.extensions) {
    if (ext.extensionType !== "external_senders") continue;
    let decoded: ReturnType<typeof decodeExternalSender>;
    try {
      decoded = decodeExternalSender(ext.extensionData, 0);
    } catch {
      decoded = undefined;
    }
    if (decoded === undefined) reject(code, "external_senders extension does not decode");
    out.push(decoded[0].signaturePublicKey);
  }
  return out;
}
