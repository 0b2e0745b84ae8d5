/**
 * The blobs an APP_MESSAGE references (docs/protocol.md "Attachments" → Referencing): its
 * optional plaintext `attachments` field, read without any key. Each must be a complete
 * blob of the room, or the message is refused BLOB_NOT_FOUND and nothing is sequenced; the
 * references are then stored with the frame (`AppendEntry.blobRefs`, one atomic write).
 *
 * Most messages reference nothing, and the sequencer never decodes an APP_MESSAGE
 * otherwise (its ciphertext is opaque): the field's key can only be present as the literal
 * CBOR text "attachments" (strict CBOR has no indefinite-length strings), so a payload
 * without those 12 bytes is passed over without decoding it.
 */
import { Buffer } from "node:buffer";
import { bytesEqual, decodePayload, MAX_ATTACHMENTS_PER_MESSAGE, Opcode } from "@kalandra/proto";
import type { BlobStore } from "../storage/blobTypes.js";
import { type Refusal, refuse } from "../vocabulary/outcome.js";

/** CBOR text string of length 11 (0x6b) followed by "attachments". */
const FIELD = Buffer.concat([Buffer.from([0x6b]), Buffer.from("attachments", "utf8")]);

/**
 * The referenced blob ids (copies), undefined when the message references none; a
 * malformed list (over 16, a repeat) is BAD_PAYLOAD.
 */
export function attachmentRefs(payload: Uint8Array): Uint8Array[] | Refusal | undefined {
  const view = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (view.indexOf(FIELD) < 0) return undefined;
  const { attachments } = decodePayload(Opcode.APP_MESSAGE, payload);
  if (attachments === undefined || attachments.length === 0) return undefined;
  if (attachments.length > MAX_ATTACHMENTS_PER_MESSAGE) {
    return refuse("BAD_PAYLOAD", `at most ${MAX_ATTACHMENTS_PER_MESSAGE} attachments per message`);
  }
  const ids = attachments.map((a) => a.slice());
  for (let i = 0; i < ids.length; i++) {
    for (let j = 0; j < i; j++) {
      if (bytesEqual(ids[i] as Uint8Array, ids[j] as Uint8Array)) {
        return refuse("BAD_PAYLOAD", "an attachment is listed twice");
      }
    }
  }
  return ids;
}

/** Every referenced blob must be complete in the room. */
export function judgeAttachments(
  store: BlobStore | undefined,
  roomId: bigint,
  ids: readonly Uint8Array[],
): Refusal | undefined {
  if (store === undefined) return refuse("BLOB_NOT_FOUND", "this hub keeps no attachments");
  for (const id of ids) {
    if (store.get(roomId, id) === undefined) {
      return refuse("BLOB_NOT_FOUND", "an attachment is not uploaded to this room");
    }
  }
  return undefined;
}
