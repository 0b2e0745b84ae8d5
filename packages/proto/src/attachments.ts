/**
 * The fixed numbers of attachments (docs/protocol.md "Attachments", issue 17): blobs are
 * client-encrypted, named by the BLAKE3-256 of their bytes, and move in chunks of
 * {@link BLOB_CHUNK_SIZE} so that no frame comes near `limits.max_payload_bytes`.
 */
import { blake3 } from "@noble/hashes/blake3.js";

/** Bytes of a blob_id: BLAKE3-256 of the blob (the ciphertext the client uploads). */
export const BLOB_ID_SIZE = 32;

/**
 * Every chunk of an upload is exactly this long except the last, and a BLOB_DATA carries at
 * most this many bytes: 256 KiB, far below the default 16 MiB frame limit and above the
 * point where per-frame costs (signature, CBOR, one round of the shard) stop mattering.
 */
export const BLOB_CHUNK_SIZE = 256 * 1024;

/** At most this many blob ids in one APP_MESSAGE's `attachments`. */
export const MAX_ATTACHMENTS_PER_MESSAGE = 16;

/** The length the chunk at `offset` of a `size`-byte blob must have. */
export function chunkLength(size: number, offset: number): number {
  return Math.max(0, Math.min(BLOB_CHUNK_SIZE, size - offset));
}

/** How many chunks a `size`-byte blob has (0 for an empty one, which is refused anyway). */
export function chunkCount(size: number): number {
  return Math.ceil(size / BLOB_CHUNK_SIZE);
}

/** The blob_id of `blob`: BLAKE3-256 of its bytes (what the hub checks on completion). */
export function blobIdOf(blob: Uint8Array): Uint8Array {
  return blake3(blob, { dkLen: BLOB_ID_SIZE });
}
