/**
 * The relay's blob store (docs/protocol.md "Attachments"), honest and in memory, for the
 * client's attachment tests: uploads in order from the offset it holds, the BLAKE3 check on
 * completion (a mismatch keeps nothing), reads only by members of a room whose log
 * references the blob; a retransmitted chunk is answered with the current state. `restart()`
 * drops every upload in progress, as a hub that lost its upload sessions does.
 */
import {
  BLOB_CHUNK_SIZE,
  bytesEqual,
  chunkLength,
  type ProtocolErrorCode,
  toHex,
} from "@kalandra/proto";
import { blake3 } from "@noble/hashes/blake3.js";

export type BlobAnswer =
  | { ok: Record<string, unknown>; data?: boolean }
  | { error: ProtocolErrorCode; message: string };

interface Upload {
  size: number;
  offset: number;
  parts: Uint8Array[];
}

export class RelayBlobs {
  readonly complete = new Map<string, Uint8Array>();
  readonly #uploads = new Map<string, Upload>();
  /** blob id hex → rooms whose log references it. */
  readonly #refs = new Map<string, Set<bigint>>();
  readonly stats = { uploads: 0, chunks: 0, refused: 0, fetches: 0 };
  maxBlobBytes = 64 * 1024 * 1024;

  restart(): void {
    this.#uploads.clear();
  }

  upload(p: Record<string, unknown>): BlobAnswer {
    const id = p.blob_id as Uint8Array;
    const size = p.size as number;
    const k = toHex(id);
    if (size <= 0 || size > this.maxBlobBytes) return this.#refuse("BLOB_TOO_LARGE", "size");
    if (this.complete.has(k)) return { ok: { blob_id: id, size, offset: size, complete: true } };
    let u = this.#uploads.get(k);
    if (u === undefined || u.size !== size) {
      u = { size, offset: 0, parts: [] };
      this.#uploads.set(k, u);
      this.stats.uploads++;
    }
    return { ok: { blob_id: id, size, offset: u.offset, complete: false } };
  }

  chunk(p: Record<string, unknown>): BlobAnswer {
    const id = p.blob_id as Uint8Array;
    const offset = p.offset as number;
    const data = p.data as Uint8Array;
    const k = toHex(id);
    const done = this.complete.get(k);
    if (done !== undefined)
      return { ok: { blob_id: id, size: done.length, offset: done.length, complete: true } };
    const u = this.#uploads.get(k);
    if (u === undefined) return this.#refuse("UPLOAD_EXPIRED", "no upload");
    // A retransmission of a chunk already appended: the current state, nothing written.
    if (offset + data.length <= u.offset)
      return { ok: { blob_id: id, size: u.size, offset: u.offset, complete: false } };
    if (offset !== u.offset || data.length !== chunkLength(u.size, offset))
      return this.#refuse("CHUNK_OUT_OF_ORDER", `at ${offset}, expected ${u.offset}`);
    this.stats.chunks++;
    u.parts.push(data.slice());
    u.offset += data.length;
    if (u.offset < u.size)
      return { ok: { blob_id: id, size: u.size, offset: u.offset, complete: false } };
    this.#uploads.delete(k);
    const blob = new Uint8Array(u.size);
    let at = 0;
    for (const part of u.parts) {
      blob.set(part, at);
      at += part.length;
    }
    if (!bytesEqual(blake3(blob, { dkLen: 32 }), id)) return this.#refuse("HASH_MISMATCH", "hash");
    this.complete.set(k, blob);
    return { ok: { blob_id: id, size: u.size, offset: u.size, complete: true } };
  }

  /** An APP_MESSAGE's `attachments`: every one must be complete; then it is referenced. */
  reference(roomId: bigint, ids: readonly Uint8Array[]): BlobAnswer | undefined {
    for (const id of ids)
      if (!this.complete.has(toHex(id))) return this.#refuse("BLOB_NOT_FOUND", "not uploaded");
    for (const id of ids) {
      const k = toHex(id);
      const rooms = this.#refs.get(k) ?? new Set();
      rooms.add(roomId);
      this.#refs.set(k, rooms);
    }
    return undefined;
  }

  /** Erases a blob (its last reference went). */
  erase(id: Uint8Array): void {
    this.complete.delete(toHex(id));
    this.#refs.delete(toHex(id));
  }

  fetch(roomId: bigint, member: boolean, p: Record<string, unknown>): BlobAnswer {
    const id = p.blob_id as Uint8Array;
    const offset = p.offset as number;
    const k = toHex(id);
    const blob = this.complete.get(k);
    if (!member || blob === undefined || !this.#refs.get(k)?.has(roomId))
      return this.#refuse("BLOB_NOT_FOUND", "no such blob here");
    if (offset >= blob.length || offset % BLOB_CHUNK_SIZE !== 0)
      return this.#refuse("BAD_PAYLOAD", "offset");
    this.stats.fetches++;
    const data = blob.slice(offset, offset + chunkLength(blob.length, offset));
    return { ok: { blob_id: id, size: blob.length, offset, data }, data: true };
  }

  #refuse(error: ProtocolErrorCode, message: string): BlobAnswer {
    this.stats.refused++;
    return { error, message };
  }
}
