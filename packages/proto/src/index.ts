/**
 * @kalandra/proto — the Kalandra wire protocol (DESIGN §3, docs/protocol.md): the signed
 * 128-byte frame header, opcodes and what each is, strict CBOR payload schemas, Ed25519,
 * the frames the hub emits, a streaming decoder, error codes, identity and runtime
 * interfaces. Every name is listed here; two more entries hold what production code must
 * not reach from here: `@kalandra/proto/node` (node:crypto KeyObject interop) and
 * `@kalandra/proto/testing` (simulation switches).
 *
 * @example
 * import { Frame, Opcode, decodePayload, encodeFrame, encodePayload, generateDeviceKey,
 *   systemRng, verifyFrame } from "@kalandra/proto";
 * const me = generateDeviceKey(systemRng);
 * const wire = encodeFrame({ opcode: Opcode.PING, requestId: 1, roomId: 0n,
 *   senderId: me.senderId, epoch: 0n, payload: encodePayload(Opcode.PING, { nonce: 1 }) }, me.signer);
 * const frame = Frame.fromWire(wire);
 * verifyFrame(frame, me.publicKey); // true
 * decodePayload(Opcode.PING, frame.payload); // { nonce: 1 }
 */

/** Attachments: blob id size, the fixed chunk size, references per message. */
export {
  BLOB_CHUNK_SIZE,
  BLOB_ID_SIZE,
  blobIdOf,
  chunkCount,
  chunkLength,
  MAX_ATTACHMENTS_PER_MESSAGE,
} from "./attachments.js";
// Bytes: constant-time comparison, concatenation, hex.
export { bytesEqual, concatBytes, toHex } from "./bytes.js";
/** `canary(name)`: is a planted bug switched on (simulation only; see `@kalandra/proto/testing`). */
export { canary } from "./canary.js";
/** CBOR, one configuration per purpose: wire payloads, and state kept at rest. */
export { cborDecode, cborEncode, stateCborDecode, stateCborEncode } from "./cbor.js";
/** The strict CBOR subset payloads must use, checked before decoding. */
export { checkStrictCbor, MAX_DEPTH as CBOR_MAX_DEPTH } from "./cborCheck.js";
/** Header sizes, offsets and integer bounds of the wire contract. */
export {
  DEFAULT_MAX_PAYLOAD,
  HEADER_SIZE,
  MAGIC,
  Offset,
  SIGNATURE_SIZE,
  SIGNED_HEADER_SIZE,
  U32_MAX,
  U64_MAX,
  U128_MAX,
  VERSION,
} from "./constants.js";
/** Device links: an existing device signs a further device of its user in (DESIGN §10). */
export {
  type DeviceLink,
  type DeviceLinkBody,
  decodeDeviceLink,
  deviceLinkSignatureValid,
  signDeviceLink,
} from "./deviceLink.js";
/** Ed25519 on raw keys: DER prefixes, a signer over a seed, verification with one key cache. */
export {
  createDeviceSigner,
  type DeviceSigner,
  ED25519_PKCS8_PREFIX,
  ED25519_SPKI_PREFIX,
  ed25519PublicKey,
  ed25519Verify,
  ed25519VerifyAsync,
} from "./ed25519.js";
/** The one error vocabulary: codes with stable numbers, and the error class carrying them. */
export {
  ErrorCode,
  errorCodeName,
  isErrorCode,
  isProtocolError,
  ProtocolError,
  type ProtocolErrorCode,
} from "./errors.js";
/** Frames between hubs: envelopes, the authority's position proof, link handshake bytes. */
export {
  type EnvelopeInput,
  forwardEnvelope,
  type LinkProofKind,
  linkTranscript,
  type OpenedEnvelope,
  openEnvelope,
  positionView,
  relayView,
  sealEnvelope,
  signPosition,
  verifyPosition,
  verifyRelayed,
} from "./federation.js";
/** Whole frames: decode (views, no copies) and encode. */
export { type DecodeOptions, encodeFrame, Frame, type FrameInput } from "./frame.js";
/** The header: a zero-copy view, a writer, the sequencer's stamp. */
export {
  FrameHeader,
  type HeaderFields,
  stampFrame,
  stampSequence,
  validateHeader,
  writeHeader,
} from "./header.js";
/** The frames the hub emits: responses, ACKs, ERRORs, hub-originated frames. */
export {
  ackFrame,
  errorFrame,
  hubFrame,
  isHubError,
  type RefusalFields,
  type RequestRef,
  responseFrame,
} from "./hubFrames.js";
/** sender_id: derived from the device key; 0 is the hub. */
export { deriveSenderId, HUB_SENDER_ID } from "./identity.js";
/** Keep-alive of a connection: PING when quiet, the peer dead after a timeout (both ends). */
export { Keepalive, type KeepaliveDeps, type KeepaliveOptions } from "./keepalive.js";
/** What a core is given instead of globals: clock, randomness, timers (DESIGN §2). */
export { systemClock, systemRng, systemTimers } from "./node/system.js";
/** Opcode numbers and names, header flag bits. */
export {
  ALL_OPCODES,
  Flag,
  HUB_ONLY_FLAGS,
  KNOWN_FLAGS_MASK,
  Opcode,
  type OpcodeName,
  opcodeName,
} from "./opcodes.js";
/** What each opcode is: one table every package asks. */
export {
  isEphemeral,
  isIdempotent,
  isOpcode,
  isRoomRequest,
  isRoomScoped,
  isSequenced,
  maySend,
  OPCODE_TRAITS,
  type OpcodeFamily,
  type OpcodeSender,
  type OpcodeTraits,
  opcodeTraits,
} from "./opcodeTraits.js";
/** Payload encoding and decoding against each opcode's strict schema. */
export {
  decodeErrorPayload,
  decodePayload,
  encodeErrorPayload,
  encodePayload,
  errorFromPayload,
} from "./payloads/codec.js";
export type { Codec, CodecSpec, Shape } from "./payloads/schema.js";
/** The strict schema language of the payloads, for other CBOR structures (e.g. `schema.struct({...})`). */
export * as schema from "./payloads/schema.js";
/** Every opcode's payload schema and its TypeScript type. */
export {
  type AppMessagePayload,
  type AuthChallengePayload,
  type AuthOkPayload,
  type AuthorityCommitPayload,
  type AuthorityProposePayload,
  type AuthorityVotePayload,
  type AuthResponsePayload,
  type BanPayload,
  type BlobChunkPayload,
  type BlobDataPayload,
  type BlobFetchPayload,
  type BlobUploadPayload,
  type BlobUploadStatePayload,
  type CommitPayload,
  type CommitRequestPayload,
  type DeviceListedPayload,
  type DeviceRevokePayload,
  type ErrorPayload,
  type ExternalCommitPayload,
  type FedChallengePayload,
  type FedEnvelopePayload,
  type FedHelloPayload,
  type FedLinkOkPayload,
  type FedLogStatePayload,
  type FedProofPayload,
  type GroupInfoPayload,
  type HandoverCertPayload,
  type HelloPayload,
  type KickPayload,
  type KpClaimedPayload,
  type KpClaimPayload,
  type KpStatusPayload,
  type KpUploadPayload,
  PAYLOAD_SCHEMAS,
  type PayloadOf,
  type PingPayload,
  type PresencePayload,
  type ProposalPayload,
  type RedactionPayload,
  type RedactPayload,
  type RoomCreatePayload,
  type RoomPolicyPayload,
  type RoomPolicyStatePayload,
  type SyncPagePayload,
  type SyncRequestPayload,
  type TermChainFetchPayload,
  type TermChainPayload,
  type TypingPayload,
  type WelcomePayload,
} from "./payloads/schemas.js";
/** The MLS group id bound to a room id (ROOM_CREATE checks it). */
export { roomGroupId } from "./roomGroupId.js";
/** A room's roles, join rule and invites, and what each ROOM_POLICY change does to them. */
export {
  applyRoomPolicyChange,
  consumeRoomInvites,
  createdRoomPolicy,
  type JoinRule,
  type RoomPolicy,
  type RoomPolicyChange,
  type RoomPolicyState,
  type RoomRole,
  roomPolicyFromState,
  roomPolicyToState,
  roomRoleOf,
} from "./roomPolicy.js";
export type { Clock, Rng, TimerHandle, Timers } from "./runtime.js";
/** Frame signatures over the signed view (a device's: log_index and hlc_timestamp zeroed; the hub's: the whole header). */
export {
  assertFrameSignature,
  type DeviceKey,
  generateDeviceKey,
  SCRATCH_RETAIN,
  signedView,
  signFrame,
  verifyFrame,
} from "./signing.js";
/** Frames from a byte stream, with a hard size limit checked before buffering. */
export { StreamDecoder } from "./streamDecoder.js";
/** SYNC_PAGE byte bounds: the page budget and the largest payload the hub sequences. */
export {
  maxSequencedPayload,
  SYNC_ENTRY_OVERHEAD,
  SYNC_PAGE_OVERHEAD,
  syncEntrySize,
} from "./syncPageSize.js";
