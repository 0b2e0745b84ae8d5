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

// Client core (MLS lifecycle and room state machine)
export {
  ClientError,
  type HubConnection,
  HubError,
  KalandraClient,
  type KalandraClientOptions,
  type RoomView,
} from "./client.js";
// Cipher suite / fast node:crypto provider (issue 5)
export * from "./crypto/index.js";
// Message envelopes
export * from "./envelope/index.js";
export {
  HUB_IDENTITY,
  type Member,
  MlsOperationError,
  SENDER_KEYS_EXPORTER_LABEL,
} from "./mls/group.js";
// Notification keys for the push decryptor
export { type ExportNotificationKeysOptions, exportNotificationKeys } from "./notify/export.js";
// Sender-key bridge
export * from "./senderkeys/index.js";
export {
  type Device,
  deviceFromSeed,
  generateDevice,
  generateKeyPackages,
  KEY_PACKAGE_LIFETIME_S,
  type OwnKeyPackage,
} from "./state/device.js";
export type { ClientEvent, ClientListener } from "./state/events.js";
export {
  DEFAULT_REQUEST_POLICY,
  type RequestPolicy,
  RequestTimeoutError,
} from "./state/requests.js";
export type { RoomPhase } from "./state/room.js";
export { type ClientStore, MemoryStore } from "./store.js";
// WebTransport connection to kalandrad (reconnects; resume rooms on onReconnect)
export {
  type ConnectionState,
  type ConnectWebTransportOptions,
  connectWebTransport,
  TransportError,
  type WebTransportConnection,
} from "./transport/webTransport.js";
