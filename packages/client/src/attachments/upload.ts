/**
 * Uploading one sealed blob (docs/protocol.md "Attachments"): BLOB_UPLOAD {blob_id, size}
 * opens (or finds) the upload and answers where it stands (BLOB_UPLOAD_STATE {offset,
 * complete}); BLOB_CHUNKs follow in order from that offset, each exactly BLOB_CHUNK_SIZE
 * but the last, a window of them in flight. The answer to the last one is the hub's
 * `complete: true`, given only once the hash checked out and the blob is on disk: only
 * then may a message reference it.
 *
 * Resuming: every request is resent with its request_id until answered, across
 * reconnects (`HubLink`). Where that is not enough — the hub restarted and lost the upload
 * session or its memory of a chunk it answered (CHUNK_OUT_OF_ORDER, UPLOAD_EXPIRED), or
 * the hub was away longer than the request tracker waits — the upload asks BLOB_UPLOAD
 * again and continues from the offset the hub holds durably, at most MAX_ROUNDS times.
 */
import { BLOB_CHUNK_SIZE, chunkLength, Opcode } from "@kalandra/proto";
import { ClientError } from "../state/errors.js";
import { ask, type BlobTarget, DEFAULT_WINDOW, inRounds, windowed } from "./transfer.js";

/** Where the hub says an upload stands. */
interface UploadState {
  offset: number;
  complete: boolean;
}

function uploadState(p: Record<string, unknown>, size: number): UploadState {
  const offset = p.offset;
  if (typeof offset !== "number" || offset < 0 || offset > size || p.size !== size) {
    throw new ClientError("bad_response", "BLOB_UPLOAD_STATE does not fit the upload");
  }
  return { offset, complete: p.complete === true };
}

/** Uploads `blob` under `hash` (its BLAKE3-256); resolves once the hub holds it complete. */
export async function uploadBlob(
  t: BlobTarget,
  blob: Uint8Array,
  hash: Uint8Array,
  progress: (loaded: number) => void,
  window = DEFAULT_WINDOW,
): Promise<void> {
  const size = blob.length;
  const request = (opcode: number, payload: Record<string, unknown>) =>
    ask(t.hub, opcode, t.roomId, t.epoch, payload).then((p) => uploadState(p, size));
  await inRounds(async () => {
    const state = await request(Opcode.BLOB_UPLOAD, { blob_id: hash, size });
    progress(state.offset);
    if (state.complete) return true;
    const offsets: number[] = [];
    for (let o = state.offset; o < size; o += BLOB_CHUNK_SIZE) offsets.push(o);
    let complete = false;
    await windowed(
      offsets,
      window,
      (offset) =>
        request(Opcode.BLOB_CHUNK, {
          blob_id: hash,
          offset,
          data: blob.subarray(offset, offset + chunkLength(size, offset)),
        }),
      (_offset, s) => {
        progress(s.offset);
        complete ||= s.complete;
      },
    );
    // Every chunk answered yet not complete: ask again where the upload stands.
    return complete;
  });
}
