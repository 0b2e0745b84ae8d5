/**
 * Opcodes of the Kalandra wire protocol (DESIGN §3), grouped in families by their
 * high byte. Numbers are part of the wire contract: never renumber, only add.
 * docs/protocol.md carries the same table with one line per opcode.
 */
export const Opcode = {
  // 0x00xx session
  HELLO: 0x0001,
  AUTH_CHALLENGE: 0x0002,
  AUTH_RESPONSE: 0x0003,
  AUTH_OK: 0x0004,
  PING: 0x0005,
  PONG: 0x0006,
  ERROR: 0x0007,
  ACK: 0x0008,
  // 0x01xx key packages
  KP_UPLOAD: 0x0101,
  KP_CLAIM: 0x0102,
  KP_CLAIMED: 0x0103,
  KP_STATUS: 0x0104,
  // 0x02xx rooms
  ROOM_CREATE: 0x0201,
  GROUP_INFO_FETCH: 0x0202,
  GROUP_INFO: 0x0203,
  SYNC_REQUEST: 0x0204,
  SYNC_PAGE: 0x0205,
  ROOM_POLICY: 0x0206,
  ROOM_POLICY_FETCH: 0x0207,
  ROOM_POLICY_STATE: 0x0208,
  // 0x03xx MLS handshake
  PROPOSAL: 0x0301,
  COMMIT: 0x0302,
  EXTERNAL_COMMIT: 0x0303,
  WELCOME: 0x0304,
  COMMIT_REQUEST: 0x0305,
  // Welcome inbox (issue 12): a device's Welcomes wait at the hub until acknowledged.
  INVITES_LIST: 0x0306,
  INVITES: 0x0307,
  WELCOME_ACK: 0x0308,
  // 0x04xx application
  APP_MESSAGE: 0x0401,
  // 0x05xx moderation
  KICK: 0x0501,
  BAN: 0x0502,
  REDACT: 0x0503,
  REDACTION: 0x0504,
  // 0x06xx ephemeral (datagrams where the transport has them; never stored)
  PRESENCE: 0x0601,
  TYPING: 0x0602,
  // 0x07xx federation
  FED_ENVELOPE: 0x0701,
  AUTHORITY_PROPOSE: 0x0702,
  AUTHORITY_VOTE: 0x0703,
  AUTHORITY_COMMIT: 0x0704,
  HANDOVER_CERT: 0x0705,
  // Hub link handshake (DESIGN §11): a challenge each way with pinned hub keys.
  FED_HELLO: 0x0706,
  FED_CHALLENGE: 0x0707,
  FED_PROOF: 0x0708,
  FED_LINK_OK: 0x0709,
  /** Replica ↔ authority: how much of a room's log is durable there / committed (issue 18). */
  FED_LOG_STATE: 0x070a,
  /** Replica → a hub claiming a higher term: the room's certificates above `after_term`. */
  TERM_CHAIN_FETCH: 0x070b,
  /** The answer: verified handover certificates, terms ascending (docs/protocol.md). */
  TERM_CHAIN: 0x070c,
  // 0x08xx identity (the user's own devices; DESIGN §10)
  DEVICE_LIST: 0x0801,
  DEVICE_LISTED: 0x0802,
  DEVICE_REVOKE: 0x0803,
  // 0x09xx attachments (issue 17): client-encrypted blobs addressed by BLAKE3, in chunks.
  BLOB_UPLOAD: 0x0901,
  BLOB_CHUNK: 0x0902,
  BLOB_UPLOAD_STATE: 0x0903,
  BLOB_FETCH: 0x0904,
  BLOB_DATA: 0x0905,
} as const;

export type OpcodeName = keyof typeof Opcode;
export type Opcode = (typeof Opcode)[OpcodeName];

const NAMES = new Map<number, OpcodeName>(
  (Object.entries(Opcode) as [OpcodeName, number][]).map(([name, code]) => [code, name]),
);

/** The constant's name for a known opcode, e.g. `opcodeName(0x0401) === "APP_MESSAGE"`. */
export function opcodeName(code: number): OpcodeName | undefined {
  return NAMES.get(code);
}

/** Every defined opcode, in numeric order. */
export const ALL_OPCODES: readonly Opcode[] = [...NAMES.keys()].sort((a, b) => a - b) as Opcode[];

/** Header flag bits (DESIGN §3); any other bit set is a protocol error. */
export const Flag = {
  EXTERNAL: 0b0001,
  RESPONSE: 0b0010,
  ERROR: 0b0100,
  FEDERATED: 0b1000,
} as const;

export const KNOWN_FLAGS_MASK = Flag.EXTERNAL | Flag.RESPONSE | Flag.ERROR | Flag.FEDERATED;

/**
 * Flags only a hub sets (answers, errors, hub-originated frames, frames relayed between
 * hubs): a client's request carrying one is refused.
 */
export const HUB_ONLY_FLAGS = Flag.EXTERNAL | Flag.RESPONSE | Flag.ERROR | Flag.FEDERATED;
