/**
 * Redactions on a replica (DESIGN §5, §11): when a room's authority erases an application
 * message it sequences a REDACTION notice `{log_index}` (a hub frame, sender 0; moderation
 * service `redact` and retention sweeps). The notice reaches every participating hub like
 * any other entry, live or in a catch-up page, and the replica then destroys its own copy
 * of the payload key the same way (storage.secureDelete), so no hub keeps the message.
 *
 * Entries in a page are appended only from the replica's head on, so a page never brings
 * an erased payload back (the authority serves it as erased, null), and a replica that was
 * away when the notice went out applies it when the page carries the notice itself.
 */
import { decodePayload, FrameHeader, isProtocolError, Opcode } from "@kalandra/proto";
import type { Storage } from "../storage/types.js";

/**
 * The log index a replicated entry redacts: a REDACTION from the room's hub (sender 0)
 * naming an earlier entry; undefined for anything else (a malformed payload included:
 * the authority signed it, but nothing is erased on a frame this hub cannot read).
 */
export function redactedIndex(header: Uint8Array, payload: Uint8Array | null): bigint | undefined {
  const h = FrameHeader.view(header);
  if (h.opcode !== Opcode.REDACTION || h.senderId !== 0n || payload === null) return undefined;
  let target: bigint;
  try {
    target = decodePayload(Opcode.REDACTION, payload).log_index;
  } catch (e) {
    if (isProtocolError(e)) return undefined;
    throw e;
  }
  return target < h.logIndex ? target : undefined;
}

/**
 * Applies a replicated REDACTION: erases the named entry's payload in this hub's storage
 * when it is an application message still held (handshake frames are never redacted, as
 * at the authority: moderation/service.ts). Resolves with the erased index, if any.
 */
export async function applyRedaction(
  storage: Storage,
  roomId: bigint,
  header: Uint8Array,
  payload: Uint8Array | null,
): Promise<bigint | undefined> {
  const target = redactedIndex(header, payload);
  if (target === undefined) return undefined;
  const [stored] = storage.readRange(roomId, target, 1);
  if (stored === undefined || stored.logIndex !== target || stored.payload === null)
    return undefined;
  if (FrameHeader.view(stored.header).opcode !== Opcode.APP_MESSAGE) return undefined;
  const context = {
    actor: "federation",
    reason: `REDACTION at log_index ${FrameHeader.view(header).logIndex}`,
  };
  return (await storage.secureDelete(roomId, target, context)) ? target : undefined;
}
