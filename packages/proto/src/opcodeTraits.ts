/**
 * What each opcode is, in one table (DESIGN §3, §4; docs/protocol.md "Opcodes" carries the
 * same columns): every package asks this table instead of keeping its own opcode sets.
 *
 * - `family`: the opcode's family (its high byte).
 * - `from`: who may send it — a client device, the hub, either of them, or a peer hub
 *   (federation, hub to hub).
 * - `sequenced`: an entry of a room's log: the sequencer stamps `log_index` and
 *   `hlc_timestamp`, stores it and fans it out to the room's members.
 * - `roomScoped`: belongs to one room's sequencer (`room_id` names the room); a client's
 *   such request is routed to the shard that owns the room.
 * - `ephemeral`: relayed to the room's live members, never sequenced or stored (datagrams
 *   where the transport has them).
 * - `idempotent`: the sequencer keeps the answer with the frame, so a repeated
 *   (sender_id, request_id) gets the first answer and is never sequenced twice (DESIGN §4).
 *
 * Lookups are one load from a 64 Ki-entry byte table: they sit on every frame's path.
 *
 * @example
 * if (isSequenced(h.opcode)) ingest(frame);
 * opcodeTraits(Opcode.TYPING); // { family: "ephemeral", from: "client", ephemeral: true, ... }
 */
import { ALL_OPCODES, Opcode } from "./opcodes.js";

export type OpcodeFamily =
  | "session"
  | "key packages"
  | "rooms"
  | "MLS handshake"
  | "application"
  | "moderation"
  | "ephemeral"
  | "federation"
  | "identity"
  | "attachments";

/** Who may send an opcode: a client device, the hub, either, or a peer hub (federation). */
export type OpcodeSender = "client" | "hub" | "either" | "peer";

export interface OpcodeTraits {
  readonly family: OpcodeFamily;
  readonly from: OpcodeSender;
  readonly sequenced: boolean;
  readonly roomScoped: boolean;
  readonly ephemeral: boolean;
  readonly idempotent: boolean;
}

type Marks = Partial<Pick<OpcodeTraits, "sequenced" | "roomScoped" | "ephemeral" | "idempotent">>;

function t(family: OpcodeFamily, from: OpcodeSender, marks: Marks = {}): OpcodeTraits {
  return Object.freeze({
    family,
    from,
    sequenced: marks.sequenced ?? false,
    roomScoped: marks.roomScoped ?? false,
    ephemeral: marks.ephemeral ?? false,
    idempotent: marks.idempotent ?? false,
  });
}

const ROOM = { roomScoped: true } as const;
/** A client's request that the sequencer orders, stores and answers once (DESIGN §4). */
const LOGGED = { sequenced: true, roomScoped: true, idempotent: true } as const;

/** The traits of every opcode, keyed by its number. */
export const OPCODE_TRAITS: Readonly<Record<Opcode, OpcodeTraits>> = Object.freeze({
  [Opcode.HELLO]: t("session", "client"),
  [Opcode.AUTH_CHALLENGE]: t("session", "hub"),
  [Opcode.AUTH_RESPONSE]: t("session", "client"),
  [Opcode.AUTH_OK]: t("session", "hub"),
  [Opcode.PING]: t("session", "either"),
  [Opcode.PONG]: t("session", "either"),
  [Opcode.ERROR]: t("session", "hub"),
  [Opcode.ACK]: t("session", "hub"),
  [Opcode.KP_UPLOAD]: t("key packages", "client"),
  [Opcode.KP_CLAIM]: t("key packages", "client"),
  [Opcode.KP_CLAIMED]: t("key packages", "hub"),
  [Opcode.KP_STATUS]: t("key packages", "hub"),
  // The creation frame is log index 0; a repeat finds the room (ROOM_EXISTS).
  [Opcode.ROOM_CREATE]: t("rooms", "client", { sequenced: true, roomScoped: true }),
  [Opcode.GROUP_INFO_FETCH]: t("rooms", "client", ROOM),
  [Opcode.GROUP_INFO]: t("rooms", "hub", ROOM),
  [Opcode.SYNC_REQUEST]: t("rooms", "client", ROOM),
  [Opcode.SYNC_PAGE]: t("rooms", "hub", ROOM),
  // Room access (roles, join rule, invites): sequenced so every member sees each change;
  // the hub sends it too (a kick revokes the kicked user's invite and role).
  [Opcode.ROOM_POLICY]: t("rooms", "either", LOGGED),
  [Opcode.ROOM_POLICY_FETCH]: t("rooms", "client", ROOM),
  [Opcode.ROOM_POLICY_STATE]: t("rooms", "hub", ROOM),
  // The hub proposes too, as the group's external sender (DESIGN §6: removals).
  [Opcode.PROPOSAL]: t("MLS handshake", "either", LOGGED),
  [Opcode.COMMIT]: t("MLS handshake", "client", LOGGED),
  [Opcode.EXTERNAL_COMMIT]: t("MLS handshake", "client", LOGGED),
  [Opcode.WELCOME]: t("MLS handshake", "hub", ROOM),
  [Opcode.COMMIT_REQUEST]: t("MLS handshake", "hub", ROOM),
  // The Welcome inbox is the hub's, per device: answered by the hub, not by a sequencer.
  [Opcode.INVITES_LIST]: t("MLS handshake", "client"),
  [Opcode.INVITES]: t("MLS handshake", "hub"),
  [Opcode.WELCOME_ACK]: t("MLS handshake", "client"),
  [Opcode.APP_MESSAGE]: t("application", "client", LOGGED),
  // Moderation requests are served by the hub's moderation, not by the room's sequencer.
  [Opcode.KICK]: t("moderation", "client"),
  [Opcode.BAN]: t("moderation", "client"),
  [Opcode.REDACT]: t("moderation", "client"),
  [Opcode.REDACTION]: t("moderation", "hub", { sequenced: true, roomScoped: true }),
  [Opcode.PRESENCE]: t("ephemeral", "client", { roomScoped: true, ephemeral: true }),
  [Opcode.TYPING]: t("ephemeral", "client", { roomScoped: true, ephemeral: true }),
  [Opcode.FED_ENVELOPE]: t("federation", "peer"),
  [Opcode.AUTHORITY_PROPOSE]: t("federation", "peer"),
  [Opcode.AUTHORITY_VOTE]: t("federation", "peer"),
  [Opcode.AUTHORITY_COMMIT]: t("federation", "peer"),
  [Opcode.HANDOVER_CERT]: t("federation", "peer"),
  [Opcode.FED_HELLO]: t("federation", "peer"),
  [Opcode.FED_CHALLENGE]: t("federation", "peer"),
  [Opcode.FED_PROOF]: t("federation", "peer"),
  [Opcode.FED_LINK_OK]: t("federation", "peer"),
  [Opcode.FED_LOG_STATE]: t("federation", "peer"),
  [Opcode.TERM_CHAIN_FETCH]: t("federation", "peer"),
  [Opcode.TERM_CHAIN]: t("federation", "peer"),
  // A user lists and revokes its own devices; the hub answers them itself.
  [Opcode.DEVICE_LIST]: t("identity", "client"),
  [Opcode.DEVICE_LISTED]: t("identity", "hub"),
  [Opcode.DEVICE_REVOKE]: t("identity", "client"),
  // Blobs belong to a room (room_id names it): answered by the shard that owns the room,
  // which holds the blob store, the membership and the references (docs/protocol.md
  // "Attachments"). Never sequenced: a blob is referenced by a sequenced APP_MESSAGE.
  [Opcode.BLOB_UPLOAD]: t("attachments", "client", ROOM),
  [Opcode.BLOB_CHUNK]: t("attachments", "client", ROOM),
  [Opcode.BLOB_UPLOAD_STATE]: t("attachments", "hub", ROOM),
  [Opcode.BLOB_FETCH]: t("attachments", "client", ROOM),
  [Opcode.BLOB_DATA]: t("attachments", "hub", ROOM),
});

/** The traits of a defined opcode, undefined for a number this version does not define. */
export function opcodeTraits(code: number): OpcodeTraits | undefined {
  return Object.hasOwn(OPCODE_TRAITS, code) ? OPCODE_TRAITS[code as Opcode] : undefined;
}

// Bit table of the traits, one byte per possible u16 opcode.
const DEFINED = 1;
const SEQUENCED = 2;
const ROOM_SCOPED = 4;
const EPHEMERAL = 8;
const IDEMPOTENT = 16;
const BY_CLIENT = 32;
const BY_HUB = 64;
const BY_PEER = 128;

const BITS = new Uint8Array(0x10000);
for (const op of ALL_OPCODES) {
  const x = OPCODE_TRAITS[op];
  BITS[op] =
    DEFINED |
    (x.sequenced ? SEQUENCED : 0) |
    (x.roomScoped ? ROOM_SCOPED : 0) |
    (x.ephemeral ? EPHEMERAL : 0) |
    (x.idempotent ? IDEMPOTENT : 0) |
    (x.from === "client" || x.from === "either" ? BY_CLIENT : 0) |
    (x.from === "hub" || x.from === "either" ? BY_HUB : 0) |
    (x.from === "peer" ? BY_PEER : 0);
}

const has = (code: number, bit: number): boolean => ((BITS[code] ?? 0) & bit) !== 0;

/** True for every opcode this version of the protocol defines (header validation uses it). */
export function isOpcode(code: number): code is Opcode {
  return has(code, DEFINED);
}
/** An entry of a room's log: stamped, stored and fanned out by the sequencer. */
export const isSequenced = (code: number): boolean => has(code, SEQUENCED);
/** Belongs to one room's sequencer (`room_id` names the room). */
export const isRoomScoped = (code: number): boolean => has(code, ROOM_SCOPED);
/** Relayed to live members only, never sequenced or stored. */
export const isEphemeral = (code: number): boolean => has(code, EPHEMERAL);
/** A repeated (sender_id, request_id) gets the first answer, never a second entry. */
export const isIdempotent = (code: number): boolean => has(code, IDEMPOTENT);

/** Whether `sender` may send `code` ("either" opcodes may be sent by clients and the hub). */
export function maySend(code: number, sender: Exclude<OpcodeSender, "either">): boolean {
  return has(code, sender === "client" ? BY_CLIENT : sender === "hub" ? BY_HUB : BY_PEER);
}

/** A request a client sends to a room's sequencer (routed to the shard that owns the room). */
export const isRoomRequest = (code: number): boolean =>
  ((BITS[code] ?? 0) & (ROOM_SCOPED | BY_CLIENT)) === (ROOM_SCOPED | BY_CLIENT);
