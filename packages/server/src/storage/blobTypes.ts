/**
 * The storage of attachment blobs (issue 17, docs/storage.md "Blobs"): client-encrypted
 * bytes addressed by (room, BLAKE3-256), kept out of the LMDB map. The hub's blob service
 * (blobs/) decides; a `BlobStore` only keeps bytes durable, answers reads, and erases.
 *
 * References are not written here: they travel with the frame that makes them
 * (`AppendEntry.blobRefs`, one atomic write), and erasing that frame drops them.
 */
import type { EraseContext } from "./types.js";

/** A complete blob as stored. */
export interface StoredBlob {
  roomId: bigint;
  /** BLAKE3-256 of the blob (a copy). */
  blobId: Uint8Array;
  size: number;
  /** The user whose upload completed it: its bytes count against that user's quota. */
  userId: string;
  /** When the upload completed (ms, the storage's clock): the grace period starts here. */
  completedAt: bigint;
  /** Live frames of the room that reference it. */
  refs: number;
  /** Whether any frame ever referenced it (a blob whose refs fell back to 0 is erased). */
  referenced: boolean;
}

/**
 * An upload in progress: its bytes go to a file under a key that exists only in this
 * object's memory until `commit`, so an upload a crash interrupts is unreadable garbage
 * that the next open removes.
 */
export interface BlobWriter {
  /** Writes chunk `index` (chunks are written in order; `data` is copied before return). */
  write(index: number, data: Uint8Array): void;
  /**
   * Makes the blob durable and listed: file synced, key in the vault synced, row committed.
   * Resolves only then; the upload may be acknowledged afterwards.
   */
  commit(meta: { userId: string; completedAt: bigint }): Promise<void>;
  /** Forgets the upload: the key is dropped and the file removed. */
  discard(): void;
}

export interface BlobStore {
  /** Starts writing a blob of `size` bytes (any earlier unfinished writer of it is discarded). */
  begin(roomId: bigint, blobId: Uint8Array, size: number): BlobWriter;
  /** The complete blob, or undefined (never stored, or erased). */
  get(roomId: bigint, blobId: Uint8Array): StoredBlob | undefined;
  /** Bytes of complete blobs held by the user (whichever room) and by the room. */
  usage(userId: string, roomId: bigint): { user: number; room: number };
  /** Every complete blob of this store (the collection sweep, room deletion). */
  list(): StoredBlob[];
  /** The plaintext (to the hub: client ciphertext) bytes of chunk `index` of a complete blob. */
  readChunk(roomId: bigint, blobId: Uint8Array, index: number): Uint8Array;
  /**
   * Erases the blob for good: its key is overwritten in the vault (durable when this
   * resolves) with an audit record `blob_erase` in the same commit as the row's removal,
   * then its file is removed. false when there was no such blob.
   */
  erase(roomId: bigint, blobId: Uint8Array, context?: EraseContext): Promise<boolean>;
}
