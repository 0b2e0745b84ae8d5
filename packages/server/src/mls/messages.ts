/**
 * Decoding of the MLS messages the hub inspects (RFC 9420 §6) with ts-mls's codecs, turned
 * into one failure channel: a Reject with the caller's code. ts-mls decoders both return
 * undefined and throw CodecError; both end here.
 */
import { authenticatedContentEncoder } from "ts-mls/authenticatedContent.js";
import { encode } from "ts-mls/codec/tlsEncoder.js";
import {
  type FramedContent,
  type FramedContentAuthData,
  framedContentTBSEncoder,
} from "ts-mls/framedContent.js";
import { type GroupContext, groupContextEncoder } from "ts-mls/groupContext.js";
import type { GroupInfo } from "ts-mls/groupInfo.js";
import { decodeMlsMessage } from "ts-mls/message.js";
import type { PublicMessage } from "ts-mls/publicMessage.js";
import { decodeRatchetTree, type RatchetTree } from "ts-mls/ratchetTree.js";
import { refHash, verifyWithLabel } from "./crypto.js";
import { type MlsViewErrorCode, reject } from "./errors.js";

const encodeTBS = encode(framedContentTBSEncoder);
const encodeAuthenticatedContent = encode(authenticatedContentEncoder);
export const encodeGroupContext = encode(groupContextEncoder);

/** Largest handshake message the hub decodes; the frame layer caps payloads too. */
export const MAX_MLS_MESSAGE = 16 * 1024 * 1024;

function decodeWhole(bytes: unknown, code: MlsViewErrorCode) {
  if (!(bytes instanceof Uint8Array)) reject(code, "expected an MLSMessage as Uint8Array");
  if (bytes.length === 0 || bytes.length > MAX_MLS_MESSAGE)
    reject(code, "MLSMessage is empty or too large");
  let decoded: ReturnType<typeof decodeMlsMessage>;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch (e) {
    reject(code, `MLSMessage does not decode: ${(e as Error).message}`);
  }
  if (decoded === undefined) reject(code, "MLSMessage does not decode");
  const [msg, end] = decoded;
  if (end !== bytes.length) reject(code, "trailing bytes after the MLSMessage");
  if (msg.version !== "mls10") reject(code, "not an MLS 1.0 message");
  return msg;
}

export function decodePublicMessage(bytes: unknown, code: MlsViewErrorCode): PublicMessage {
  const msg = decodeWhole(bytes, code);
  if (msg.wireformat !== "mls_public_message")
    reject(code, "handshake messages must be PublicMessage");
  return msg.publicMessage;
}

export function decodeGroupInfoMessage(bytes: unknown): GroupInfo {
  const msg = decodeWhole(bytes, "INVALID_GROUP_INFO");
  if (msg.wireformat !== "mls_group_info") reject("INVALID_GROUP_INFO", "not a GroupInfo message");
  return msg.groupInfo;
}

/** The ratchet_tree extension's raw bytes (RFC 9420 §12.4.3.3), or undefined. */
export function ratchetTreeExtension(gi: GroupInfo): Uint8Array | undefined {
  const exts = gi.extensions.filter((e) => e.extensionType === "ratchet_tree");
  if (exts.length > 1) reject("INVALID_GROUP_INFO", "more than one ratchet_tree extension");
  return exts[0]?.extensionData;
}

export function decodeTree(data: Uint8Array): RatchetTree {
  let decoded: ReturnType<typeof decodeRatchetTree>;
  try {
    decoded = decodeRatchetTree(data, 0);
  } catch (e) {
    reject("INVALID_GROUP_INFO", `ratchet tree does not decode: ${(e as Error).message}`);
  }
  if (decoded === undefined || decoded[1] !== data.length)
    reject("INVALID_GROUP_INFO", "ratchet tree does not decode");
  return decoded[0];
}

/**
 * Signature over FramedContentTBS (RFC 9420 §6.1). For member and new_member_commit senders
 * the TBS includes the GroupContext, binding the message to this exact epoch state.
 */
export function verifyFramedContent(
  key: Uint8Array,
  content: FramedContent,
  auth: FramedContentAuthData,
  context: GroupContext,
): boolean {
  const senderType = content.sender.senderType;
  const tbs =
    senderType === "member" || senderType === "new_member_commit"
      ? encodeTBS({
          protocolVersion: "mls10",
          wireformat: "mls_public_message",
          content,
          senderType,
          context,
        })
      : encodeTBS({
          protocolVersion: "mls10",
          wireformat: "mls_public_message",
          content,
          senderType,
        });
  return verifyWithLabel(key, "FramedContentTBS", tbs, auth.signature);
}

/** ProposalRef = RefHash("MLS 1.0 Proposal Reference", AuthenticatedContent) (RFC 9420 §5.2). */
export function proposalRef(pm: PublicMessage): Uint8Array {
  return refHash(
    "MLS 1.0 Proposal Reference",
    encodeAuthenticatedContent({
      wireformat: "mls_public_message",
      content: pm.content,
      auth: pm.auth,
    }),
  );
}
