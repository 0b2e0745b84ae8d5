/**
 * @kalandra/client — take part in Kalandra rooms (DESIGN §7, docs/client.md): the MLS
 * lifecycle on ts-mls, the sender-key bridge for application messages, message envelopes,
 * and the export of notification keys. The push decryptor has its own entry point,
 * `@kalandra/client/notify`, which loads no MLS code.
 *
 * @example
 * import { systemClock, systemRng, systemTimers } from "@kalandra/proto";
 * import { KalandraClient, MemoryStore, getKalandraCiphersuiteImpl } from "@kalandra/client";
 * const client = await KalandraClient.open({
 *   connection, hubPublicKey, userId: "alice", store: new MemoryStore(),
 *   clock: systemClock, rng: systemRng, timers: systemTimers(),
 *   cs: getKalandraCiphersuiteImpl(systemRng),
 * });
 * client.on((e) => { if (e.type === "message") console.log(e.userId, e.envelope); });
 * await client.connect();
 * const room = await client.createRoom();
 * await client.addMembers(room, ["bob"]);
 * await client.send(room, { t: "text", body: "hello" });
 */

// Attachments (docs/client.md "Attachments"): `sendAttachment` / `fetchAttachment`.
export type {
  AttachmentContent,
  AttachmentMetadata,
  AttachmentRef,
  AttachmentSource,
  SentAttachment,
} from "./attachments/attachments.js";
export type { TransferOptions, TransferProgress } from "./attachments/transfer.js";
// The client: one device in Kalandra rooms.
export {
  /** A failure on the client's side, with a stable `code`. */
  ClientError,
  /** The transport seam: send frames, receive frames, close. */
  type HubConnection,
  /** A hub ERROR response, as a typed error (`hubName`, `code`). */
  HubError,
  /** A Welcome waiting for this device at the hub (`client.invitations()`). */
  type Invitation,
  /** Room access (docs/protocol.md "Room access"): join rule, roles, invites. */
  type JoinRule,
  /** The facade: rooms, members, messages, connection lifecycle, erasure. */
  KalandraClient,
  type KalandraClientOptions,
  /** Who may join a new room besides those its members add. */
  type RoomAccessOptions,
  /** One leaf of a room's tree: its user and device. */
  type RoomLeaf,
  /** A room's roles, join rule and invites as the log has them. */
  type RoomPolicyView,
  type RoomRole,
  /** A room as the application sees it (phase, epoch, members, policy). */
  type RoomView,
} from "./client.js";
// Cipher suite 1 on a fast node:crypto provider (issue 5), every random byte injected.
export {
  createKalandraCryptoProvider,
  defaultCryptoProvider,
  getKalandraCiphersuiteImpl,
  KALANDRA_CIPHERSUITE,
  type KalandraCryptoOptions,
  SUPPORTED_CIPHERSUITES,
} from "./crypto/index.js";
// Message envelopes (the plaintext inside an APP_MESSAGE) and attachments.
export {
  type AttachmentThumb,
  CONTENT_KEY_BYTES,
  contentHash,
  createEnvelope,
  decodeEnvelope,
  type EnvelopeContent,
  EnvelopeError,
  EnvelopeErrorCode,
  type EnvelopeType,
  encodeEnvelope,
  HASH_BYTES,
  ID_BYTES,
  MAX_BODY_BYTES,
  MAX_EMOJI_BYTES,
  MAX_MIME_BYTES,
  MAX_NAME_BYTES,
  type MessageEnvelope,
  openAttachment,
  type SealedAttachment,
  sealAttachment,
} from "./envelope/index.js";
/** Where a browser device persists itself: IndexedDB (one database per device). */
export {
  type IdbFactory,
  type IdbKeyRangeClass,
  IndexedDbStore,
  IndexedDbStoreError,
  type IndexedDbStoreOptions,
} from "./indexedDbStore.js";
export { MlsOperationError } from "./mls/group.js";
/** The sender keys a push process decrypts with (`@kalandra/client/notify`). */
export { type ExportNotificationKeysOptions, exportNotificationKeys } from "./notify/export.js";
// The sender-key bridge (DESIGN §7): one epoch's application-message keys.
export {
  EpochSenderKeys,
  type EpochSenderKeysInit,
  type SealedMessage,
  SenderKeyError,
  SenderKeyErrorCode,
  type WindowOptions,
} from "./senderkeys/index.js";
export type { ClientEvent, ClientListener } from "./state/events.js";
export type { HelloAuth, HelloAuthProvider } from "./state/helloAuth.js";
export {
  DEFAULT_REQUEST_POLICY,
  /** How often and how many times an unanswered request is sent again. */
  type RequestPolicy,
  /** A request the hub never answered within the policy's attempts. */
  RequestTimeoutError,
} from "./state/requests.js";
export type { RoomPhase } from "./state/room.js";
/** Where the client persists its device, key packages and rooms (bring your own). */
export { type ClientStore, MemoryStore } from "./store.js";
// WebSocket connection to kalandrad (the same handshake, reconnect and resume).
export {
  type ConnectWebSocketOptions,
  connectWebSocket,
  type WebSocketConnection,
} from "./transport/webSocket.js";
// WebTransport connection to kalandrad (reconnects; resume rooms on onReconnect).
export {
  type ConnectionState,
  type ConnectWebTransportOptions,
  connectWebTransport,
  TransportError,
  type WebTransportConnection,
} from "./transport/webTransport.js";
