/**
 * One strict schema per opcode, exactly the table of docs/contracts.md "Opcodes and
 * payloads" (docs/protocol.md repeats it). u64 quantities are bigint, other integers
 * number, byte strings Uint8Array.
 */
import { Opcode } from "../opcodes.js";
import {
  array,
  bool,
  bytes,
  type InferShape,
  nullable,
  oneOf,
  optional,
  type Shape,
  type StructCodec,
  struct,
  text,
  u64,
  uint,
} from "./schema.js";

// 0x00xx session
// `auth`: what proves the user (DESIGN §10): an OIDC token, an enrollment code, a device link.
const hello = struct({
  device_key: bytes(32),
  user_id: text(),
  client: text(),
  auth: optional(struct({ method: text(), credential: bytes() })),
});
const authChallenge = struct({ nonce: bytes(32), hub_key: bytes(32) });
const authResponse = struct({ nonce: bytes(32) });
/**
 * `ping_ms`: how often the hub asks the client to PING when quiet (docs/protocol.md
 * "Keep-alive"); sent only when the hub's transport keeps the session alive on its own.
 */
const authOk = struct({ sender_id: u64(), user_id: text(), ping_ms: optional(uint()) });
const ping = struct({ nonce: uint() });
const error = struct({
  code: uint(),
  name: text(),
  message: text(),
  expected_epoch: optional(u64()),
  /** TRANSFERRING, PEER_UNREACHABLE, rate limits: when a retry may succeed. */
  retry_after_ms: optional(u64()),
  /** STALE_TERM, NOT_AUTHORITY: the room's current term as the refusing hub knows it. */
  term: optional(u64()),
});
const empty = struct({});

// 0x01xx key packages
const kpUpload = struct({ key_packages: array(bytes()), last_resort: bool() });
const kpClaim = struct({ user_id: text() });
const kpClaimed = struct({
  claims: array(struct({ sender_id: u64(), key_package: bytes() })),
});
const kpStatus = struct({ remaining: uint() });

// 0x02xx rooms
/** Who may join a room by GroupInfo and external commit besides its members (docs/protocol.md "Room access"). */
const joinRule = oneOf("invite", "open");
const roomCreate = struct({
  group_info: bytes(),
  join_rule: optional(joinRule),
  allowed_domains: optional(array(text())),
});
/** One change of a room's access policy; which fields an action takes: docs/protocol.md. */
const roomPolicy = struct({
  action: oneOf("invite", "revoke", "set_role", "set_join_rule", "expel"),
  user_id: optional(text()),
  role: optional(oneOf("owner", "admin", "member")),
  expires_at: optional(u64()),
  join_rule: optional(joinRule),
  allowed_domains: optional(array(text())),
});
const roomPolicyState = struct({
  join_rule: joinRule,
  allowed_domains: array(text()),
  roles: array(struct({ user_id: text(), role: oneOf("owner", "admin") })),
  invites: array(struct({ user_id: text(), expires_at: u64() })),
  members_are_admins: bool(),
});
const groupInfo = struct({ epoch: u64(), group_info: bytes() });
const syncRequest = struct({ from: u64(), limit: uint() });
const syncPage = struct({
  entries: array(struct({ header: bytes(128), payload: nullable(bytes()) })),
  next: u64(),
  head: u64(),
});

// 0x03xx MLS handshake
const proposal = struct({ message: bytes() });
const commit = struct({
  commit: bytes(),
  group_info: bytes(),
  welcome: optional(bytes()),
  welcome_recipients: optional(array(u64())),
});
const externalCommit = struct({ commit: bytes(), group_info: bytes() });
const welcome = struct({ welcome: bytes(), epoch: u64() });
const commitRequest = struct({ epoch: u64(), pending: uint(), deadline_ms: uint() });
// room_id is u128 like the header's field: 16 bytes, big-endian.
const invites = struct({
  invites: array(struct({ room_id: bytes(16), epoch: u64(), log_index: u64(), expires_at: u64() })),
});
const welcomeAck = struct({ log_index: u64() });

// 0x04xx application
// `attachments`: the blob ids the message references, in the clear for the hub (read ACL,
// refcounts; docs/protocol.md "Attachments"); the keys travel inside `ciphertext`.
const appMessage = struct({
  generation: uint(),
  ciphertext: bytes(),
  attachments: optional(array(bytes(32))),
});

// 0x05xx moderation
const kick = struct({ user_id: text(), reason: text() });
const ban = struct({ user_id: text(), scope: oneOf("room", "hub"), reason: text() });
const redact = struct({ log_index: u64(), reason: text() });
const redaction = struct({ log_index: u64() });

// 0x06xx ephemeral
const presence = struct({ status: text() });
const typing = struct({ typing: bool() });

// 0x07xx federation (DESIGN §11; docs/protocol.md "Federation"). Every federation frame is a
// hub frame: sender_id 0, signed by the sending hub's key over its whole header and payload.
/**
 * A frame travelling between hubs. `frame` is the inner frame, untouched (a device's
 * request, an authority's answer or sequenced frame). The envelope frame's own signature
 * (by the forwarding hub) covers every field. `user_id`/`device_key`: the origin hub's
 * authenticated user and device key for a forwarded device request. `term`/`position_sig`:
 * on a sequenced frame from the authority, its term and its signature over
 * `positionView(term, frame)` — proof of position that survives re-forwarding. `to`: the
 * receiving hub's devices a frame is for (fan-out, WELCOME routing); `members`: the receiving
 * hub's member devices of the room after this frame (access checks on its replica).
 * `dest`/`origin_sig`: on an envelope a relay carries (onward relay, hops > 1), the hub it
 * is for and the origin hub's signature over `relayView` (the envelope as the origin
 * sealed it), so the destination believes the origin, not the relay.
 */
const fedEnvelope = struct({
  origin: text(),
  forwarded_at: u64(),
  hops: uint(),
  frame: bytes(),
  user_id: optional(text()),
  device_key: optional(bytes(32)),
  term: optional(u64()),
  position_sig: optional(bytes(64)),
  to: optional(array(u64())),
  members: optional(array(u64())),
  /**
   * The room's state after the inner frame (a sequenced frame that changed it, or the last
   * entry of a catch-up page): what lets a replica take the room over (failover).
   */
  room_state: optional(bytes()),
  /**
   * With a catch-up page: where each term's entries start in the authority's log (terms
   * ascending), so a replica knows the term of every entry it fetched (how complete its log
   * is, in an election).
   */
  term_starts: optional(array(struct({ term: u64(), start: u64() }))),
  dest: optional(text()),
  origin_sig: optional(bytes(64)),
});
/** Move a room's authority: room in the header; `log_index` the proposer's replica head. */
const authorityPropose = struct({
  term: u64(),
  from: text(),
  to: text(),
  log_index: u64(),
  nonce: bytes(16),
  reason: oneOf("planned", "failover"),
  /** The hub asking for votes (the sitting authority in a planned transfer). */
  proposer: text(),
  /** Term of the last entry in `to`'s log (with `log_index`: how complete it is). */
  last_term: u64(),
  /** The room's voters at `log_index`: distinct domains, ascending. */
  voters: array(text()),
});
/**
 * One voter's answer to a proposal (`proposal`: SHA-256 of the proposal statement), once per
 * (room, term). `signature` (approve) is the voter's hub signature over the vote statement
 * (it goes into the certificate); `refusal` (not approve) says why, and `cert` carries the
 * certificate of a higher term the voter knows.
 */
const authorityVote = struct({
  term: u64(),
  proposal: bytes(32),
  voter: text(),
  approve: bool(),
  log_index: u64(),
  signature: optional(bytes(64)),
  refusal: optional(text()),
  cert: optional(bytes()),
});
/** The new authority took over: it continues at `next_index` in `term`. */
const authorityCommit = struct({ term: u64(), authority: text(), next_index: u64() });
/**
 * A majority's proof: the proposal statement and the signed vote statements (CBOR, as the
 * authority state machine encodes them). `handover` only from the old authority to the new
 * one in a planned transfer: where its log ends and the room as its last frame left it.
 */
const handoverCert = struct({
  proposal: bytes(),
  votes: array(bytes()),
  handover: optional(
    struct({
      next_index: u64(),
      room_state: bytes(),
      created_at: u64(),
      creator: optional(text()),
    }),
  ),
});
/** Hub link handshake (dialer → acceptor): who dials, whom, its key and its challenge. */
const fedHello = struct({ domain: text(), to: text(), hub_key: bytes(32), nonce: bytes(32) });
/** Acceptor → dialer: its own challenge and its signature over `linkTranscript("challenge", …)`. */
const fedChallenge = struct({
  domain: text(),
  hub_key: bytes(32),
  nonce: bytes(32),
  signature: bytes(64),
});
/** Dialer → acceptor: its signature over `linkTranscript("proof", …)`. */
const fedProof = struct({ signature: bytes(64) });
/** Acceptor → dialer: the link is up (both sides proved their pinned keys). */
const fedLinkOk = struct({ max_hops: uint() });
/**
 * How far a room's log is at the sender in `term`: a replica tells the authority how many
 * entries it holds durably (`durable`), the authority tells the replicas how many a
 * majority of voters holds (`commit`), so `ack_quorum = "majority"` acknowledges and fans
 * out only what no failover can drop.
 */
const fedLogState = struct({
  term: u64(),
  durable: u64(),
  commit: u64(),
  /** From the authority when they change: the room's voters (hubs with a member device). */
  voters: optional(array(text())),
});
/**
 * A hub that sees a frame sequenced in a term above the one it holds a certificate for asks
 * the sender for the room's certificate chain (room in the header): every handover
 * certificate it holds above `after_term`.
 */
const termChainFetch = struct({ after_term: u64() });
/**
 * The chain, terms ascending, at most 32 certificates (the asker continues from the last);
 * each as in HANDOVER_CERT: the proposal statement and the signed vote statements.
 */
const termChain = struct({
  certs: array(struct({ proposal: bytes(), votes: array(bytes()) })),
});

// 0x08xx identity
const deviceListed = struct({
  devices: array(
    struct({ sender_id: u64(), device_key: bytes(32), bound_at: u64(), revoked: bool() }),
  ),
});
const deviceRevoke = struct({ sender_id: u64() });

// 0x09xx attachments (docs/protocol.md "Attachments"): blob_id = BLAKE3-256 of the blob.
const blobUpload = struct({ blob_id: bytes(32), size: uint() });
const blobChunk = struct({ blob_id: bytes(32), offset: uint(), data: bytes() });
const blobUploadState = struct({
  blob_id: bytes(32),
  size: uint(),
  offset: uint(),
  complete: bool(),
});
const blobFetch = struct({ blob_id: bytes(32), offset: uint() });
const blobData = struct({ blob_id: bytes(32), size: uint(), offset: uint(), data: bytes() });

/** The schema of every opcode, keyed by opcode number. */
export const PAYLOAD_SCHEMAS = {
  [Opcode.HELLO]: hello,
  [Opcode.AUTH_CHALLENGE]: authChallenge,
  [Opcode.AUTH_RESPONSE]: authResponse,
  [Opcode.AUTH_OK]: authOk,
  [Opcode.PING]: ping,
  [Opcode.PONG]: ping,
  [Opcode.ERROR]: error,
  [Opcode.ACK]: empty,
  [Opcode.KP_UPLOAD]: kpUpload,
  [Opcode.KP_CLAIM]: kpClaim,
  [Opcode.KP_CLAIMED]: kpClaimed,
  [Opcode.KP_STATUS]: kpStatus,
  [Opcode.ROOM_CREATE]: roomCreate,
  [Opcode.GROUP_INFO_FETCH]: empty,
  [Opcode.GROUP_INFO]: groupInfo,
  [Opcode.SYNC_REQUEST]: syncRequest,
  [Opcode.SYNC_PAGE]: syncPage,
  [Opcode.ROOM_POLICY]: roomPolicy,
  [Opcode.ROOM_POLICY_FETCH]: empty,
  [Opcode.ROOM_POLICY_STATE]: roomPolicyState,
  [Opcode.PROPOSAL]: proposal,
  [Opcode.COMMIT]: commit,
  [Opcode.EXTERNAL_COMMIT]: externalCommit,
  [Opcode.WELCOME]: welcome,
  [Opcode.COMMIT_REQUEST]: commitRequest,
  [Opcode.INVITES_LIST]: empty,
  [Opcode.INVITES]: invites,
  [Opcode.WELCOME_ACK]: welcomeAck,
  [Opcode.APP_MESSAGE]: appMessage,
  [Opcode.KICK]: kick,
  [Opcode.BAN]: ban,
  [Opcode.REDACT]: redact,
  [Opcode.REDACTION]: redaction,
  [Opcode.PRESENCE]: presence,
  [Opcode.TYPING]: typing,
  [Opcode.FED_ENVELOPE]: fedEnvelope,
  [Opcode.AUTHORITY_PROPOSE]: authorityPropose,
  [Opcode.AUTHORITY_VOTE]: authorityVote,
  [Opcode.AUTHORITY_COMMIT]: authorityCommit,
  [Opcode.HANDOVER_CERT]: handoverCert,
  [Opcode.FED_HELLO]: fedHello,
  [Opcode.FED_CHALLENGE]: fedChallenge,
  [Opcode.FED_PROOF]: fedProof,
  [Opcode.FED_LINK_OK]: fedLinkOk,
  [Opcode.FED_LOG_STATE]: fedLogState,
  [Opcode.TERM_CHAIN_FETCH]: termChainFetch,
  [Opcode.TERM_CHAIN]: termChain,
  [Opcode.DEVICE_LIST]: empty,
  [Opcode.DEVICE_LISTED]: deviceListed,
  [Opcode.DEVICE_REVOKE]: deviceRevoke,
  [Opcode.BLOB_UPLOAD]: blobUpload,
  [Opcode.BLOB_CHUNK]: blobChunk,
  [Opcode.BLOB_UPLOAD_STATE]: blobUploadState,
  [Opcode.BLOB_FETCH]: blobFetch,
  [Opcode.BLOB_DATA]: blobData,
} as const satisfies Record<Opcode, { readonly shape: Shape }>;

type Schemas = typeof PAYLOAD_SCHEMAS;
type ShapeOf<C> = C extends StructCodec<infer S> ? S : never;

/** The decoded payload type of an opcode, e.g. `PayloadOf<typeof Opcode.COMMIT>`. */
export type PayloadOf<Op extends Opcode> = InferShape<ShapeOf<Schemas[Op]>>;

export type HelloPayload = PayloadOf<typeof Opcode.HELLO>;
export type AuthChallengePayload = PayloadOf<typeof Opcode.AUTH_CHALLENGE>;
export type AuthResponsePayload = PayloadOf<typeof Opcode.AUTH_RESPONSE>;
export type AuthOkPayload = PayloadOf<typeof Opcode.AUTH_OK>;
export type PingPayload = PayloadOf<typeof Opcode.PING>;
export type ErrorPayload = PayloadOf<typeof Opcode.ERROR>;
export type KpUploadPayload = PayloadOf<typeof Opcode.KP_UPLOAD>;
export type KpClaimPayload = PayloadOf<typeof Opcode.KP_CLAIM>;
export type KpClaimedPayload = PayloadOf<typeof Opcode.KP_CLAIMED>;
export type KpStatusPayload = PayloadOf<typeof Opcode.KP_STATUS>;
export type RoomCreatePayload = PayloadOf<typeof Opcode.ROOM_CREATE>;
export type GroupInfoPayload = PayloadOf<typeof Opcode.GROUP_INFO>;
export type SyncRequestPayload = PayloadOf<typeof Opcode.SYNC_REQUEST>;
export type SyncPagePayload = PayloadOf<typeof Opcode.SYNC_PAGE>;
export type RoomPolicyPayload = PayloadOf<typeof Opcode.ROOM_POLICY>;
export type RoomPolicyStatePayload = PayloadOf<typeof Opcode.ROOM_POLICY_STATE>;
export type ProposalPayload = PayloadOf<typeof Opcode.PROPOSAL>;
export type CommitPayload = PayloadOf<typeof Opcode.COMMIT>;
export type ExternalCommitPayload = PayloadOf<typeof Opcode.EXTERNAL_COMMIT>;
export type WelcomePayload = PayloadOf<typeof Opcode.WELCOME>;
export type CommitRequestPayload = PayloadOf<typeof Opcode.COMMIT_REQUEST>;
export type InvitesPayload = PayloadOf<typeof Opcode.INVITES>;
export type WelcomeAckPayload = PayloadOf<typeof Opcode.WELCOME_ACK>;
export type AppMessagePayload = PayloadOf<typeof Opcode.APP_MESSAGE>;
export type KickPayload = PayloadOf<typeof Opcode.KICK>;
export type BanPayload = PayloadOf<typeof Opcode.BAN>;
export type RedactPayload = PayloadOf<typeof Opcode.REDACT>;
export type RedactionPayload = PayloadOf<typeof Opcode.REDACTION>;
export type PresencePayload = PayloadOf<typeof Opcode.PRESENCE>;
export type TypingPayload = PayloadOf<typeof Opcode.TYPING>;
export type FedEnvelopePayload = PayloadOf<typeof Opcode.FED_ENVELOPE>;
export type AuthorityProposePayload = PayloadOf<typeof Opcode.AUTHORITY_PROPOSE>;
export type AuthorityVotePayload = PayloadOf<typeof Opcode.AUTHORITY_VOTE>;
export type AuthorityCommitPayload = PayloadOf<typeof Opcode.AUTHORITY_COMMIT>;
export type HandoverCertPayload = PayloadOf<typeof Opcode.HANDOVER_CERT>;
export type FedLogStatePayload = PayloadOf<typeof Opcode.FED_LOG_STATE>;
export type TermChainFetchPayload = PayloadOf<typeof Opcode.TERM_CHAIN_FETCH>;
export type TermChainPayload = PayloadOf<typeof Opcode.TERM_CHAIN>;
export type FedHelloPayload = PayloadOf<typeof Opcode.FED_HELLO>;
export type FedChallengePayload = PayloadOf<typeof Opcode.FED_CHALLENGE>;
export type FedProofPayload = PayloadOf<typeof Opcode.FED_PROOF>;
export type FedLinkOkPayload = PayloadOf<typeof Opcode.FED_LINK_OK>;
export type DeviceListedPayload = PayloadOf<typeof Opcode.DEVICE_LISTED>;
export type DeviceRevokePayload = PayloadOf<typeof Opcode.DEVICE_REVOKE>;
export type BlobUploadPayload = PayloadOf<typeof Opcode.BLOB_UPLOAD>;
export type BlobChunkPayload = PayloadOf<typeof Opcode.BLOB_CHUNK>;
export type BlobUploadStatePayload = PayloadOf<typeof Opcode.BLOB_UPLOAD_STATE>;
export type BlobFetchPayload = PayloadOf<typeof Opcode.BLOB_FETCH>;
export type BlobDataPayload = PayloadOf<typeof Opcode.BLOB_DATA>;
