/**
 * The server's persistence contract (DESIGN §5). LMDB (`lmdbStorage.ts`) is the production
 * and default implementation; the simulation runs the same LMDB code in a temp directory.
 * Cores call these methods; only storage touches files.
 *
 * Ownership: byte arrays passed in are copied or sealed before the call returns, so the
 * caller may reuse its buffers; byte arrays returned are the caller's to keep.
 */

import type { BlobStore } from "./blobTypes.js";

/** One accepted frame, written atomically with everything that depends on it. */
export interface AppendEntry {
  roomId: bigint;
  logIndex: bigint;
  /** The 128-byte header as sequenced (log_index and hlc_timestamp stamped). */
  header: Uint8Array;
  /** The CBOR payload in clear; storage seals it under a fresh random key. */
  payload: Uint8Array;
  /** Idempotency record: (senderId, requestId) → response frame bytes. */
  senderId: bigint;
  requestId: number;
  response: Uint8Array;
  /** Credential user id of the sender, for the moderation user index (absent for the hub). */
  userId?: string;
  /** New opaque room state (public group view, pending proposals) when this frame changed it. */
  roomState?: Uint8Array;
  /**
   * Blob ids (32 bytes each) the frame references (an APP_MESSAGE's `attachments`): stored
   * with it in the same write, dropped when it is erased (docs/storage.md "Blobs").
   */
  blobRefs?: readonly Uint8Array[];
}

/** A frame read back from the log; `payload` is null once it was securely deleted. */
export interface StoredFrame {
  roomId: bigint;
  logIndex: bigint;
  header: Uint8Array;
  payload: Uint8Array | null;
}

export interface RoomMeta {
  roomId: bigint;
  createdAt: bigint;
  /** Free-form settings such as retention; CBOR-encodable. */
  settings: Record<string, unknown>;
  /** The user whose ROOM_CREATE made the room (per-user room quota, counted at start). */
  creator?: string;
  /**
   * Set when an operator deleted the room (admin API, moderation/roomAdmin.ts): the row stays
   * as a tombstone so the room answers as deleted and its id is never created again.
   */
  deleted?: RoomTombstone;
}

/** When a room was deleted, and where its log ended (its next log_index then). */
export interface RoomTombstone {
  at: bigint;
  nextIndex: bigint;
}

/** What one room occupies in storage (the admin API's "size on disk"). */
export interface RoomUsage {
  /** Log entries whose header is stored. */
  frames: number;
  /** Entries whose payload and payload key still exist (not erased). */
  livePayloads: number;
  /**
   * Bytes of the room's rows, keys and values (headers, sealed payloads, key references,
   * MLS state, metadata) plus 32 vault bytes per live payload key; the B-tree's page
   * overhead and the user index (keyed by user, not room) are not counted.
   */
  bytes: number;
}

export interface StoredKeyPackage {
  /** Hash reference of the KeyPackage (RFC 9420 §5.2), unique per package. */
  ref: Uint8Array;
  senderId: bigint;
  userId: string;
  data: Uint8Array;
  lastResort: boolean;
  /** notAfter of the package's lifetime, seconds since the Unix epoch. */
  notAfter: bigint;
}

/**
 * A device the hub bound to a user (DESIGN §10) at its first authentication. The binding
 * never changes; a revoked device stays in the registry so it can never authenticate again.
 */
export interface StoredDevice {
  senderId: bigint;
  /** The device's Ed25519 public key (frame key and MLS leaf signature key). */
  deviceKey: Uint8Array;
  userId: string;
  /** Seconds since the Unix epoch. */
  boundAt: bigint;
  /** The `auth.method` that bound it (absent in records written before it was kept). */
  boundBy?: string;
  revokedAt?: bigint;
}

/** A one-time enrollment code (`kalandrad admin user add`), kept only as its hash. */
export interface StoredEnrollmentCode {
  /** SHA-256 of the code. */
  codeHash: Uint8Array;
  userId: string;
  /** Seconds since the Unix epoch. */
  expiresAt: bigint;
  /** When it was used (a used code is kept, so a second use is told apart from a typo). */
  usedAt?: bigint;
}

/** What binding a device did. */
export type BindResult =
  | { kind: "bound"; device: StoredDevice }
  /** The device was already registered (bound to `device.userId`, maybe revoked). */
  | { kind: "existing"; device: StoredDevice }
  /** The user already has `maxActive` active devices. */
  | { kind: "too_many" };

/**
 * The identity tables (DESIGN §10): users, the device registry, enrollment codes and the
 * single-use nonces of device links. Cores (identity/) decide; this only stores, each
 * write one transaction.
 */
export interface IdentityStorage {
  /** Registers a user (idempotent: a known user keeps its creation time). */
  putUser(userId: string, createdAt: bigint): Promise<void>;
  /** Registered users with their creation time, ordered by user id. */
  listUsers(): { userId: string; createdAt: bigint }[];
  getDevice(senderId: bigint): StoredDevice | undefined;
  /** Every device ever bound to the user (revoked ones too), ordered by sender_id. */
  devicesOf(userId: string): StoredDevice[];
  /**
   * Binds the device to its user in one transaction unless the sender_id is registered
   * already (then `existing`, unchanged) or the user has `maxActive` unrevoked devices.
   */
  bindDevice(device: StoredDevice, maxActive: number): Promise<BindResult>;
  /** Marks a device revoked (once; the first time stays); undefined when unknown. */
  revokeDevice(senderId: bigint, at: bigint): Promise<StoredDevice | undefined>;
  putEnrollmentCode(code: StoredEnrollmentCode): Promise<void>;
  /**
   * Marks the code with this hash used at `now` and returns it as it was before (with
   * `usedAt` when it had been used already): a code is good at most once.
   */
  takeEnrollmentCode(codeHash: Uint8Array, now: bigint): Promise<StoredEnrollmentCode | undefined>;
  /**
   * Records a single-use nonce (device links) until `expiresAt`; false when it was
   * recorded before. Nonces past their expiry at `now` may be forgotten.
   */
  useNonce(nonce: Uint8Array, expiresAt: bigint, now: bigint): Promise<boolean>;
}

/**
 * Accepted answers to in-band moderation requests (KICK, BAN, REDACT; hub/moderationAnswers.ts),
 * by the authenticated (sender_id, request_id), so a retry after a restart gets the first
 * answer and is not carried out again. Bounded: at most `maxAnswers` rows, oldest dropped.
 */
export interface ModerationAnswerStorage {
  /** The answer stored for (senderId, requestId), if any. */
  getModerationAnswer(senderId: bigint, requestId: number): Uint8Array | undefined;
  /**
   * Stores the answer, durably, unless one is stored for (senderId, requestId) already (the
   * first stays), then drops the oldest answers beyond `maxAnswers`; resolves with how many
   * it dropped. An answer over MODERATION_ANSWER_MAX_BYTES (moderationAnswerBounds.ts), ids
   * that are no u64/u32 or a `maxAnswers` below 1 are StorageError INVALID, nothing written.
   */
  putModerationAnswer(
    senderId: bigint,
    requestId: number,
    answer: Uint8Array,
    maxAnswers: number,
  ): Promise<number>;
}

/**
 * A Welcome kept for one recipient device until the device acknowledges it or it expires
 * (issue 12, the Welcome inbox): an offline invitee gets it when it next connects.
 */
export interface StoredWelcome {
  /** The recipient device. */
  senderId: bigint;
  roomId: bigint;
  /** log_index of the commit that added the device (the WELCOME header carries it). */
  logIndex: bigint;
  /** The epoch the Welcome joins. */
  epoch: bigint;
  /** The WELCOME frame as the hub signed it, delivered again byte for byte. */
  frame: Uint8Array;
  /** Seconds since the Unix epoch from which on it is erased and never delivered. */
  expiresAt: bigint;
}

/** Who erased a frame and why, for the audit record of a secure delete. */
export interface EraseContext {
  actor?: string;
  reason?: string;
}

export interface AuditRecord {
  /** Kind of event: "secure_delete", "kick", "ban", "unban", "authority", "admin_refused", ... */
  kind: string;
  at: bigint;
  roomId?: bigint;
  actor: string;
  detail: Record<string, unknown>;
}

export type AuditVerification =
  | { ok: true; records: number }
  | { ok: false; firstBroken: number; reason: string };

export interface Storage extends IdentityStorage, ModerationAnswerStorage {
  /** The attachment blobs (issue 17); absent in storages that keep none (MemoryStorage). */
  readonly blobs?: BlobStore;
  /**
   * Writes the entries in one transaction; resolves once it is durable (fsynced).
   * A frame that resolved survives a crash; one that did not is wholly there or absent.
   */
  append(entries: readonly AppendEntry[]): Promise<void>;
  /** Frames of a room from `from` on, at most `limit`, in log order. */
  readRange(roomId: bigint, from: bigint, limit: number): StoredFrame[];
  /** The room's next log_index (0 for an empty room). */
  nextIndex(roomId: bigint): bigint;
  /** The response recorded for (senderId, requestId), if that request was sequenced. */
  getResponse(senderId: bigint, requestId: number): Uint8Array | undefined;
  /** Records a response for a request that produced no log entry (e.g. a refused one is NOT recorded). */
  putResponse(senderId: bigint, requestId: number, response: Uint8Array): Promise<void>;

  putRoom(meta: RoomMeta, roomState: Uint8Array): Promise<void>;
  getRoom(roomId: bigint): RoomMeta | undefined;
  listRooms(): bigint[];
  getRoomState(roomId: bigint): Uint8Array | undefined;
  putRoomState(roomId: bigint, roomState: Uint8Array): Promise<void>;

  /** (roomId, logIndex) of everything a user sent, without decrypting anything. */
  userIndex(userId: string): { roomId: bigint; logIndex: bigint }[];

  /** Rows and bytes of one room, read without opening a payload. */
  roomUsage(roomId: bigint): RoomUsage;
  /** Log indexes of the room whose payload is not erased, ascending from `from`, at most `limit`. */
  livePayloads(roomId: bigint, from: bigint, limit: number): bigint[];
  /**
   * Room deletion, first step: writes `meta` (its `deleted` tombstone set) and drops the
   * room's MLS state in one transaction, so the room is never restored again.
   */
  retireRoom(meta: RoomMeta): Promise<void>;
  /**
   * Room deletion with its headers dropped: removes every header of the room, with its
   * key reference and user-index row; resolves with how many. Only after every payload was
   * erased (through `secureDelete`): a live payload is StorageError INVALID, nothing removed.
   */
  dropRoomLog(roomId: bigint): Promise<number>;

  /**
   * Cryptographic erasure: destroys the payload key so that neither key nor plaintext can
   * be found in any byte of any file under the data directory; the header stays.
   * Resolves after the erasure is fsynced; false if there was nothing to erase.
   */
  secureDelete(roomId: bigint, logIndex: bigint, context?: EraseContext): Promise<boolean>;

  putKeyPackages(packages: readonly StoredKeyPackage[]): Promise<void>;
  /** Hands out one package per device of the user, each at most once (last-resort ones may repeat). */
  claimKeyPackages(userId: string, nowSeconds: bigint): Promise<StoredKeyPackage[]>;
  countKeyPackages(senderId: bigint, nowSeconds: bigint): number;

  /**
   * Keeps a Welcome for its device; a repeat (same device, room and log_index) is kept
   * once. Beyond `maxPerDevice` the device's oldest are dropped: resolves with how many.
   */
  putWelcome(welcome: StoredWelcome, maxPerDevice: number): Promise<number>;
  /** A device's Welcomes not expired at `nowSeconds`, oldest first. */
  welcomesFor(senderId: bigint, nowSeconds: bigint): StoredWelcome[];
  /** Removes one Welcome (the device acknowledged it); false when there was none. */
  removeWelcome(senderId: bigint, roomId: bigint, logIndex: bigint): Promise<boolean>;
  /** Erases at most `limit` Welcomes expired at `nowSeconds`; resolves with how many. */
  expireWelcomes(nowSeconds: bigint, limit: number): Promise<number>;

  appendAudit(record: AuditRecord): Promise<void>;
  readAudit(): AuditRecord[];
  verifyAudit(): AuditVerification;

  /** Flushes and closes; further calls throw a StorageError. */
  close(): Promise<void>;
}
