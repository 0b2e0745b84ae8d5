/**
 * Error codes of the whole system, with the numbers that travel in ERROR frames
 * (`{code, name, message}`). The numbers are part of the wire contract: never renumber,
 * only add. Families by hundreds: 1–99 frame/protocol, 100 session and authorisation,
 * 200 rooms, 300 sequencer and MLS (DESIGN §4), 400 key packages, 500 internal,
 * 600 attachments, 700 federation (DESIGN §11).
 * docs/protocol.md carries the same table.
 */
export const ErrorCode = {
  // 1–99: decoding and verifying frames (this package raises these).
  BAD_MAGIC: 1,
  BAD_VERSION: 2,
  RESERVED_FLAGS: 3,
  UNKNOWN_OPCODE: 4,
  PAYLOAD_TOO_LARGE: 5,
  TRUNCATED: 6,
  TRAILING_BYTES: 7,
  BAD_PAYLOAD: 8,
  BAD_SIGNATURE: 9,
  // 100: session, authentication, authorisation and limits.
  UNAUTHENTICATED: 100,
  SENDER_MISMATCH: 101,
  FORBIDDEN: 102,
  BANNED: 103,
  RATE_LIMITED: 104,
  TOO_MANY_CONNECTIONS: 105,
  TOO_MANY_ROOMS: 106,
  // 107–119: identity (DESIGN §10): who a device speaks for.
  AUTH_FAILED: 107,
  DEVICE_REVOKED: 108,
  TOO_MANY_DEVICES: 109,
  DEVICE_TAKEN: 110,
  CREDENTIAL_MISMATCH: 111,
  INVALID_USER_ID: 112,
  CODE_EXPIRED: 113,
  UNKNOWN_AUTH_METHOD: 114,
  // 120–129: per-user and per-device quotas (issue 12).
  TOO_MANY_KEY_PACKAGES: 120,
  // 200: rooms.
  UNKNOWN_ROOM: 200,
  ROOM_EXISTS: 201,
  ROOM_FULL: 202,
  NOT_MEMBER: 203,
  NOT_FOUND: 204,
  NO_ACCESS: 205,
  // 300: sequencer and MLS checks (DESIGN §4, §6).
  STALE_EPOCH: 300,
  WRONG_EPOCH: 301,
  MUST_INCLUDE_PENDING_REMOVALS: 302,
  MISSING_PROPOSALS: 303,
  INVALID_COMMIT: 304,
  INVALID_PROPOSAL: 305,
  INVALID_GROUP_INFO: 306,
  // 400: key packages.
  NO_KEY_PACKAGE: 400,
  KEY_PACKAGE_EXPIRED: 401,
  /** Key-package claims over a claimer's or a target user's rate (issue 12: drains are slow). */
  CLAIM_RATE_LIMITED: 402,
  // 500: the hub failed.
  INTERNAL: 500,
  // 600: attachments (issue 17, docs/protocol.md "Attachments").
  /** The declared size is above `attachments.max_blob_bytes` (or 0). */
  BLOB_TOO_LARGE: 600,
  /** The upload would take the user or the room past its attachment quota. */
  QUOTA_EXCEEDED: 601,
  /** The completed upload's BLAKE3-256 is not its blob_id: nothing is kept. */
  HASH_MISMATCH: 602,
  /** No such blob readable in this room (never uploaded, unreferenced, erased). */
  BLOB_NOT_FOUND: 603,
  /** A chunk not at the upload's next offset, or of the wrong length. */
  CHUNK_OUT_OF_ORDER: 604,
  /** No upload in progress for this blob: never begun, expired or collected. */
  UPLOAD_EXPIRED: 605,
  // 700–799: federation (DESIGN §11): hub links, envelopes, room authority.
  /** A hub link or envelope from a domain not configured as a peer. */
  PEER_NOT_CONFIGURED: 700,
  /** A domain on the blocklist (or off the allowlist), as link peer or envelope origin. */
  PEER_BLOCKED: 701,
  /** An envelope whose hop count is past `max_hops`: dropped, never forwarded or stored. */
  TOO_MANY_HOPS: 702,
  /** An envelope, handshake proof, vote or position whose hub signature does not verify. */
  BAD_HUB_SIGNATURE: 703,
  /** The peer presented a hub key other than the one pinned for its domain. */
  HUB_KEY_MISMATCH: 704,
  /** The room's authority is another hub (or none this hub knows of). */
  NOT_AUTHORITY: 705,
  /** The room's authority is handing over: retry after `retry_after_ms` (DESIGN §11). */
  TRANSFERRING: 706,
  /** A term lower than the room's current term (a deposed authority, an old proposal). */
  STALE_TERM: 707,
  /** This hub already voted in that (room, term); votes are once per term. */
  ALREADY_VOTED: 708,
  /** The room's authority hub is not reachable over a link right now: retry. */
  PEER_UNREACHABLE: 709,
  /** Federation is disabled on this hub (federation opcodes are refused). */
  FEDERATION_DISABLED: 710,
  /** A replica refused an authority frame: not the next log_index, wrong term or signature. */
  OUT_OF_POSITION: 711,
  /**
   * A frame or certificate of a term above the room's known one without a certificate
   * chain this hub can verify (a majority of the room's voters it knows, pinned keys):
   * dropped, the room keeps its authority, the sender gets a strike.
   */
  UNVERIFIED_TERM: 712,
  /**
   * A relayed envelope (onward relay) seen before, or whose origin time is outside the
   * replay window: dropped, a relay cannot make a hub act on an origin's frame twice.
   */
  REPLAYED_ENVELOPE: 713,
  /**
   * This hub is not (yet) one of the room's MLS external senders, so it cannot sign a kick's
   * removal: it sequences the room since before a commit enlisted it (docs/federation.md
   * "Kicks across hubs"); the room's next commit enlists it, retry after it.
   */
  NOT_ENLISTED: 714,
} as const;

export type ProtocolErrorCode = keyof typeof ErrorCode;

const BY_NUMBER = new Map<number, ProtocolErrorCode>(
  (Object.entries(ErrorCode) as [ProtocolErrorCode, number][]).map(([name, n]) => [n, name]),
);

/** The name of a numeric error code, or undefined for a number this version does not know. */
export function errorCodeName(numeric: number): ProtocolErrorCode | undefined {
  return BY_NUMBER.get(numeric);
}

/** True when `name` is one of the codes in {@link ErrorCode}. */
export function isErrorCode(name: string): name is ProtocolErrorCode {
  return Object.hasOwn(ErrorCode, name);
}

/**
 * The one error class for every rejection of wire input: malformed input never throws
 * anything else (DESIGN §3). Other packages raise it too with the session/sequencer codes,
 * and turn it into an ERROR frame with `{code: numeric, name: code, message}`.
 *
 * @example
 * try { Frame.fromWire(bytes) } catch (e) { if (e instanceof ProtocolError && e.code === "BAD_MAGIC") … }
 */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  readonly code: ProtocolErrorCode;
  readonly numeric: number;

  constructor(code: ProtocolErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
    this.numeric = ErrorCode[code];
  }
}

/** True for a ProtocolError, optionally with the given code. */
export function isProtocolError(e: unknown, code?: ProtocolErrorCode): e is ProtocolError {
  return e instanceof ProtocolError && (code === undefined || e.code === code);
}
