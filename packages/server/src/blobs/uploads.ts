/**
 * Uploads in progress (docs/protocol.md "Attachments" → Upload): one per (room, blob_id),
 * owned by the device that began it, in memory only — a hub restart forgets them and the
 * client begins again (only a completed upload is acknowledged as durable). Each keeps the
 * running BLAKE3 of the bytes received, so completion costs no second pass over the file.
 */
import { toHex } from "@kalandra/proto";
import { blake3 } from "@noble/hashes/blake3.js";
import type { BlobWriter } from "../storage/blobTypes.js";

export interface Upload {
  readonly roomId: bigint;
  readonly blobId: Uint8Array;
  readonly senderId: bigint;
  readonly userId: string;
  readonly size: number;
  /** The next offset expected: the bytes received so far. */
  next: number;
  /** Last chunk (or begin) time, for upload_expiry_ms. */
  lastAt: bigint;
  readonly hash: ReturnType<typeof blake3.create>;
  readonly writer: BlobWriter;
  /** The chunk being handled: the next one waits for it (chunks may be pipelined). */
  busy: Promise<unknown>;
}

export const uploadKey = (roomId: bigint, blobId: Uint8Array): string =>
  `${roomId}:${toHex(blobId)}`;

export class Uploads {
  private readonly byKey = new Map<string, Upload>();

  get(roomId: bigint, blobId: Uint8Array): Upload | undefined {
    return this.byKey.get(uploadKey(roomId, blobId));
  }

  start(u: Omit<Upload, "hash" | "busy" | "next">): Upload {
    const upload: Upload = {
      ...u,
      next: 0,
      hash: blake3.create({ dkLen: 32 }),
      busy: Promise.resolve(),
    };
    this.byKey.set(uploadKey(u.roomId, u.blobId), upload);
    return upload;
  }

  /** Removes the upload (if it is still the current one for its key). */
  end(u: Upload): void {
    const k = uploadKey(u.roomId, u.blobId);
    if (this.byKey.get(k) === u) this.byKey.delete(k);
  }

  /** Whether `u` is still the upload in progress for its blob (not expired or ended). */
  current(u: Upload): boolean {
    return this.byKey.get(uploadKey(u.roomId, u.blobId)) === u;
  }

  /** Bytes declared by uploads in progress of this user, and of this room. */
  pending(userId: string, roomId: bigint): { user: number; room: number } {
    let user = 0;
    let room = 0;
    for (const u of this.byKey.values()) {
      if (u.userId === userId) user += u.size;
      if (u.roomId === roomId) room += u.size;
    }
    return { user, room };
  }

  /** Uploads idle since before `cutoff`. */
  idleSince(cutoff: bigint): Upload[] {
    return [...this.byKey.values()].filter((u) => u.lastAt <= cutoff);
  }

  all(): Upload[] {
    return [...this.byKey.values()];
  }
}
