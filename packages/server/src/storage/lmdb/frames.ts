/**
 * One accepted frame as rows (DESIGN §5): sealing a batch before its transaction, writing
 * its rows inside it, and opening a stored frame again. The rows of one frame:
 *   headers[room ‖ index]      = header (128 bytes)
 *   payload_keys[room ‖ index] = state ‖ vault slot (slotRef.ts)
 *   payloads[room ‖ index]     = ChaCha20-Poly1305(key, AD = room ‖ index, payload)
 *   requests[sender ‖ request] = response;  user_index[user ‖ room ‖ index];  mls_state[room]
 */
import { StorageError } from "../errors.js";
import { copyBytes, frameKey, requestKey, roomKey, userIndexKey } from "../keys.js";
import { KEY_BYTES, openPayload, sealPayload } from "../seal.js";
import { keyRef, ONE, readKeyRef, STATE_ERASED, STATE_LIVE } from "../slotRef.js";
import type { AppendEntry } from "../types.js";
import { putBlobRefsInTxn } from "./blobs.js";
import type { Tables } from "./layout.js";
import type { KeyVault } from "./vault.js";

export interface FrameRows {
  key: Uint8Array;
  slot: number;
  sealed: Uint8Array;
  header: Uint8Array;
  request: Uint8Array;
  response: Uint8Array;
  user: Uint8Array | undefined;
  room: Uint8Array | undefined;
  roomState: Uint8Array | undefined;
  roomId: bigint;
  logIndex: bigint;
  blobRefs: Uint8Array[] | undefined;
}

/**
 * Seals every payload under its own key (`keys` holds 32 bytes per entry) and copies what
 * the caller passed in, so the caller may reuse its buffers as soon as `append` returns.
 */
export function sealRows(
  entries: readonly AppendEntry[],
  slots: readonly number[],
  keys: Uint8Array,
): FrameRows[] {
  return entries.map((e, i) => {
    const key = frameKey(e.roomId, e.logIndex);
    return {
      key,
      slot: slots[i] as number,
      sealed: sealPayload(keys.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES), key, e.payload),
      header: copyBytes(e.header),
      request: requestKey(e.senderId, e.requestId),
      response: copyBytes(e.response),
      user: e.userId === undefined ? undefined : userIndexKey(e.userId, e.roomId, e.logIndex),
      room: e.roomState === undefined ? undefined : roomKey(e.roomId),
      roomState: e.roomState === undefined ? undefined : copyBytes(e.roomState),
      roomId: e.roomId,
      logIndex: e.logIndex,
      blobRefs: e.blobRefs?.map((id) => copyBytes(id)),
    };
  });
}

/** Inside a write transaction: the rows of each frame (writes only, nothing that throws). */
export function putRows(t: Tables, rows: readonly FrameRows[]): void {
  for (const r of rows) {
    t.headers.putSync(r.key, r.header);
    t.payload_keys.putSync(r.key, keyRef(STATE_LIVE, r.slot));
    t.payloads.putSync(r.key, r.sealed);
    t.requests.putSync(r.request, r.response);
    if (r.user !== undefined) t.user_index.putSync(r.user, ONE);
    if (r.room !== undefined && r.roomState !== undefined) t.mls_state.putSync(r.room, r.roomState);
    if (r.blobRefs !== undefined && r.blobRefs.length > 0) {
      putBlobRefsInTxn(t, r.roomId, r.logIndex, r.blobRefs);
    }
  }
}

/**
 * The payload of a stored frame: null once erased; StorageError(CORRUPT) when a row is
 * missing or malformed or the sealed payload does not open with the vault's key.
 */
export function openFrame(
  t: Tables,
  vault: KeyVault,
  key: Uint8Array,
  where: string,
): Uint8Array | null {
  const ref = t.payload_keys.get(key);
  if (ref === undefined) throw new StorageError("CORRUPT", `${where} has no payload key reference`);
  const { state, slot } = readKeyRef(ref, where);
  if (state === STATE_ERASED) return null;
  const sealed = t.payloads.get(key);
  if (sealed === undefined) throw new StorageError("CORRUPT", `${where} has no sealed payload`);
  const payloadKey = vault.read(slot);
  try {
    return copyBytes(openPayload(payloadKey, key, sealed));
  } catch (err) {
    throw new StorageError("CORRUPT", `${where}: sealed payload does not open`, { cause: err });
  } finally {
    payloadKey.fill(0);
  }
}
