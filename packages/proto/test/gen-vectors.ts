/**
 * Deterministic generator of test/vectors.json: hex frames for every opcode (valid, with
 * the decoded payload and the signer's public key) and invalid frames with the expected
 * error code, for any implementation of the protocol to check itself against.
 *
 *   pnpm --filter @kalandra/proto exec tsx test/gen-vectors.ts   # rewrites vectors.json
 *
 * Keys come from a fixed seed and Ed25519 signatures are deterministic (RFC 8032), so the
 * output is byte-identical on every run; vectors.test.ts checks that it still is.
 *
 * JSON conventions: byte strings are `{"$bytes": "<hex>"}`, u64 values `{"$u64": "<decimal>"}`,
 * header u64/u128 fields decimal strings.
 */
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cborEncode } from "../src/cbor.js";
import { HEADER_SIZE } from "../src/constants.js";
import { ErrorCode, type ProtocolErrorCode } from "../src/errors.js";
import { encodeFrame } from "../src/frame.js";
import { FrameHeader, type HeaderFields, stampSequence } from "../src/header.js";
import { ALL_OPCODES, Flag, Opcode, opcodeName } from "../src/opcodes.js";
import { OPCODE_TRAITS } from "../src/opcodeTraits.js";
import { encodePayload } from "../src/payloads/codec.js";
import type { PayloadOf } from "../src/payloads/schemas.js";
import { generateDeviceKey, signedView, signFrame } from "../src/signing.js";
import { hex, seededRng } from "./helpers.js";

const b = (...xs: number[]) => new Uint8Array(xs);
const fill = (n: number, v: number) => new Uint8Array(n).fill(v);

/** One representative payload per opcode. */
export const SAMPLE_PAYLOADS: { [Op in Opcode]: PayloadOf<Op> } = {
  [Opcode.HELLO]: {
    device_key: fill(32, 0x11),
    user_id: "alice",
    client: "kalandra-test/1",
    auth: { method: "enrollment", credential: b(0x41, 0x42) },
  },
  [Opcode.AUTH_CHALLENGE]: { nonce: fill(32, 0x22), hub_key: fill(32, 0x33) },
  [Opcode.AUTH_RESPONSE]: { nonce: fill(32, 0x22) },
  [Opcode.AUTH_OK]: { sender_id: 0x1234_5678_9abc_def0n, user_id: "alice@localhost" },
  [Opcode.PING]: { nonce: 42 },
  [Opcode.PONG]: { nonce: 42 },
  [Opcode.ERROR]: {
    code: ErrorCode.STALE_EPOCH,
    name: "STALE_EPOCH",
    message: "room is at epoch 8",
    expected_epoch: 8n,
  },
  [Opcode.ACK]: {},
  [Opcode.KP_UPLOAD]: { key_packages: [b(1, 2, 3), b(4, 5)], last_resort: false },
  [Opcode.KP_CLAIM]: { user_id: "bob" },
  [Opcode.KP_CLAIMED]: { claims: [{ sender_id: 77n, key_package: b(9, 9, 9) }] },
  [Opcode.KP_STATUS]: { remaining: 3 },
  [Opcode.ROOM_CREATE]: { group_info: b(0, 1, 0, 4) },
  [Opcode.GROUP_INFO_FETCH]: {},
  [Opcode.GROUP_INFO]: { epoch: 5n, group_info: b(0, 1, 0, 4, 5) },
  [Opcode.SYNC_REQUEST]: { from: 100n, limit: 50 },
  [Opcode.ROOM_POLICY]: { action: "invite", user_id: "dave", expires_at: 1_900_000_000n },
  [Opcode.ROOM_POLICY_FETCH]: {},
  [Opcode.ROOM_POLICY_STATE]: {
    join_rule: "open",
    allowed_domains: ["example.org"],
    roles: [{ user_id: "alice", role: "owner" }],
    invites: [{ user_id: "dave", expires_at: 1_900_000_000n }],
    members_are_admins: false,
  },
  [Opcode.SYNC_PAGE]: {
    entries: [
      { header: fill(128, 0xaa), payload: b(0xa0) },
      { header: fill(128, 0xbb), payload: null },
    ],
    next: 102n,
    head: 2n ** 60n,
  },
  [Opcode.PROPOSAL]: { message: b(0, 1, 0, 1, 7) },
  [Opcode.COMMIT]: {
    commit: b(0, 1, 0, 1, 8),
    group_info: b(0, 1, 0, 4, 6),
    welcome: b(0, 1, 0, 3),
    welcome_recipients: [77n, 2n ** 63n + 5n],
  },
  [Opcode.EXTERNAL_COMMIT]: { commit: b(0, 1, 0, 1, 9), group_info: b(0, 1, 0, 4, 7) },
  [Opcode.WELCOME]: { welcome: b(0, 1, 0, 3, 1), epoch: 6n },
  [Opcode.COMMIT_REQUEST]: { epoch: 6n, pending: 2, deadline_ms: 5000 },
  [Opcode.INVITES_LIST]: {},
  [Opcode.INVITES]: {
    invites: [{ room_id: fill(16, 0x7e), epoch: 6n, log_index: 41n, expires_at: 1_800_000_000n }],
  },
  [Opcode.WELCOME_ACK]: { log_index: 41n },
  [Opcode.APP_MESSAGE]: { generation: 12, ciphertext: fill(40, 0x5c) },
  [Opcode.KICK]: { user_id: "mallory", reason: "spam" },
  [Opcode.BAN]: { user_id: "mallory", scope: "hub", reason: "abuse" },
  [Opcode.REDACT]: { log_index: 41n, reason: "posted by mistake" },
  [Opcode.REDACTION]: { log_index: 41n },
  [Opcode.PRESENCE]: { status: "online" },
  [Opcode.TYPING]: { typing: true },
  [Opcode.FED_ENVELOPE]: {
    origin: "hub-a.example.org",
    forwarded_at: 1_700_000_000_123n,
    hops: 1,
    frame: fill(130, 0x01),
    user_id: "alice@hub-a.example.org",
    device_key: fill(32, 0x11),
  },
  [Opcode.AUTHORITY_PROPOSE]: {
    term: 3n,
    from: "hub-a.example.org",
    to: "hub-b.example.org",
    log_index: 41n,
    nonce: fill(16, 0x55),
    reason: "planned",
    proposer: "hub-a.example.org",
    last_term: 2n,
    voters: ["hub-a.example.org", "hub-b.example.org", "hub-c.example.org"],
  },
  [Opcode.AUTHORITY_VOTE]: {
    term: 3n,
    proposal: fill(32, 0x66),
    voter: "hub-c.example.org",
    approve: true,
    log_index: 41n,
    signature: fill(64, 0x67),
  },
  [Opcode.AUTHORITY_COMMIT]: { term: 3n, authority: "hub-b.example.org", next_index: 42n },
  [Opcode.HANDOVER_CERT]: {
    proposal: fill(150, 0x02),
    votes: [fill(160, 0x03)],
    handover: { next_index: 42n, room_state: fill(40, 0x04), created_at: 1_700_000_000_000n },
  },
  [Opcode.FED_HELLO]: {
    domain: "hub-a.example.org",
    to: "hub-b.example.org",
    hub_key: fill(32, 0x33),
    nonce: fill(32, 0x44),
  },
  [Opcode.FED_CHALLENGE]: {
    domain: "hub-b.example.org",
    hub_key: fill(32, 0x34),
    nonce: fill(32, 0x45),
    signature: fill(64, 0x77),
  },
  [Opcode.FED_PROOF]: { signature: fill(64, 0x78) },
  [Opcode.FED_LINK_OK]: { max_hops: 3 },
  [Opcode.FED_LOG_STATE]: {
    term: 3n,
    durable: 42n,
    commit: 41n,
    voters: ["hub-a.example.org", "hub-b.example.org"],
  },
  [Opcode.TERM_CHAIN_FETCH]: { after_term: 2n },
  [Opcode.TERM_CHAIN]: { certs: [{ proposal: fill(150, 0x02), votes: [fill(160, 0x03)] }] },
  [Opcode.DEVICE_LIST]: {},
  [Opcode.DEVICE_LISTED]: {
    devices: [
      { sender_id: 77n, device_key: fill(32, 0x11), bound_at: 1_700_000_000n, revoked: false },
    ],
  },
  [Opcode.DEVICE_REVOKE]: { sender_id: 77n },
  [Opcode.BLOB_UPLOAD]: { blob_id: fill(32, 0x3b), size: 300_000 },
  [Opcode.BLOB_CHUNK]: { blob_id: fill(32, 0x3b), offset: 262_144, data: fill(16, 0x42) },
  [Opcode.BLOB_UPLOAD_STATE]: {
    blob_id: fill(32, 0x3b),
    size: 300_000,
    offset: 262_144,
    complete: false,
  },
  [Opcode.BLOB_FETCH]: { blob_id: fill(32, 0x3b), offset: 0 },
  [Opcode.BLOB_DATA]: { blob_id: fill(32, 0x3b), size: 16, offset: 0, data: fill(16, 0x42) },
};

/** JSON form of payload values: bytes and bigints tagged, everything else as is. */
export function toJson(v: unknown): unknown {
  if (v instanceof Uint8Array) return { $bytes: hex(v) };
  if (typeof v === "bigint") return { $u64: v.toString() };
  if (Array.isArray(v)) return v.map(toJson);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]));
  }
  return v;
}

export function fromJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromJson);
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (typeof o.$bytes === "string") return new Uint8Array(Buffer.from(o.$bytes, "hex"));
    if (typeof o.$u64 === "string") return BigInt(o.$u64);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, fromJson(x)]));
  }
  return v;
}

export interface JsonHeader {
  flags: number;
  opcode: number;
  request_id: number;
  room_id: string;
  sender_id: string;
  log_index: string;
  hlc_timestamp: string;
  epoch: string;
  payload_size: number;
}

export function headerJson(h: FrameHeader): JsonHeader {
  return {
    flags: h.flags,
    opcode: h.opcode,
    request_id: h.requestId,
    room_id: h.roomId.toString(),
    sender_id: h.senderId.toString(),
    log_index: h.logIndex.toString(),
    hlc_timestamp: h.hlcTimestamp.toString(),
    epoch: h.epoch.toString(),
    payload_size: h.payloadSize,
  };
}

export interface ValidVector {
  name: string;
  opcode: number;
  header: JsonHeader;
  payload: unknown;
  payload_hex: string;
  signed_view_hex: string;
  public_key: string;
  frame_hex: string;
}

export interface InvalidVector {
  name: string;
  /** Where the error is found: decoding the frame, its payload, or checking its signature. */
  stage: "frame" | "payload" | "signature";
  frame_hex: string;
  /** The `maxPayload` to decode with, when not the default 16 MiB. */
  max_payload?: number;
  /** For the "signature" stage: the key to verify against. */
  public_key?: string;
  error: ProtocolErrorCode;
  error_numeric: number;
}

export interface Vectors {
  description: string;
  json_conventions: string;
  keys: Record<string, { seed: string; public_key: string; sender_id: string }>;
  valid: ValidVector[];
  invalid: InvalidVector[];
}

/** Opcodes whose vector carries a sequencer stamp: device frames, an ACK, a hub-sequenced notice. */
const STAMPED: ReadonlySet<number> = new Set([
  Opcode.APP_MESSAGE,
  Opcode.COMMIT,
  Opcode.ACK,
  Opcode.REDACTION,
]);

export function buildVectors(): Vectors {
  const device = generateDeviceKey(seededRng("kalandra/test-vectors/device"));
  const hub = generateDeviceKey(seededRng("kalandra/test-vectors/hub"));
  const room = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210n;

  const valid: ValidVector[] = [];
  for (const [i, op] of ALL_OPCODES.entries()) {
    // Frames only the hub sends are signed by the hub key; so are PONG (sent either way, here
    // as the hub's response) and the federation frames hubs send each other.
    const from = OPCODE_TRAITS[op].from;
    const isHub = from === "hub" || from === "peer" || op === Opcode.PONG;
    const key = isHub ? hub : device;
    let flags = 0;
    if (op === Opcode.ERROR) flags = Flag.RESPONSE | Flag.ERROR;
    else if (op === Opcode.ACK || op === Opcode.PONG || op === Opcode.AUTH_OK)
      flags = Flag.RESPONSE;
    else if (op === Opcode.FED_ENVELOPE) flags = Flag.FEDERATED;
    const payload = encodePayload(op, SAMPLE_PAYLOADS[op] as never);
    const fields: HeaderFields = {
      flags,
      opcode: op,
      requestId: 1000 + i,
      roomId: op >= Opcode.ROOM_CREATE ? room : 0n,
      senderId: isHub ? 0n : device.senderId,
      epoch: op >= Opcode.PROPOSAL ? 5n : 0n,
    };
    // A device signs before the sequencer stamps (its signature leaves the stamp out); the
    // hub signs its frames after stamping, over the whole header (DESIGN §3).
    const frame = encodeFrame({ ...fields, payload }, isHub ? undefined : key.signer);
    if (STAMPED.has(op)) stampSequence(frame, 41n, 0x0000_0193_0000_0007n);
    if (isHub) signFrame(frame, key.signer);
    valid.push({
      name: opcodeName(op)!,
      opcode: op,
      header: headerJson(FrameHeader.view(frame)),
      payload: toJson(SAMPLE_PAYLOADS[op]),
      payload_hex: hex(payload),
      signed_view_hex: hex(signedView(frame)),
      public_key: hex(key.publicKey),
      frame_hex: hex(frame),
    });
  }

  const base = (payload: Uint8Array, op: number = Opcode.APP_MESSAGE) =>
    encodeFrame(
      { opcode: op, requestId: 7, roomId: room, senderId: device.senderId, epoch: 5n, payload },
      device.signer,
    );
  const okPayload = encodePayload(Opcode.APP_MESSAGE, { generation: 1, ciphertext: b(1, 2, 3) });
  const patched = (at: number, v: number) => {
    const f = base(okPayload);
    f[at] = v;
    return f;
  };
  const withSize = (size: number) => {
    const f = base(okPayload).slice(0, HEADER_SIZE);
    new DataView(f.buffer).setUint32(60, size);
    return f;
  };
  const invalid: InvalidVector[] = [];
  const add = (
    name: string,
    stage: InvalidVector["stage"],
    frame: Uint8Array,
    error: ProtocolErrorCode,
    extra: Partial<InvalidVector> = {},
  ) =>
    invalid.push({
      name,
      stage,
      frame_hex: hex(frame),
      ...extra,
      error,
      error_numeric: ErrorCode[error],
    });

  add("short header (127 bytes)", "frame", base(okPayload).subarray(0, 127), "TRUNCATED");
  add("wrong magic", "frame", patched(0, 0x54), "BAD_MAGIC");
  add("version 2", "frame", patched(4, 2), "BAD_VERSION");
  add("reserved flag bit 4", "frame", patched(5, 0x10), "RESERVED_FLAGS");
  add("unknown opcode 0x04ff", "frame", patched(7, 0xff), "UNKNOWN_OPCODE");
  add(
    "payload_size over the default 16 MiB limit",
    "frame",
    withSize(16 * 1024 * 1024 + 1),
    "PAYLOAD_TOO_LARGE",
  );
  add("payload_size over a configured limit", "frame", base(okPayload), "PAYLOAD_TOO_LARGE", {
    max_payload: okPayload.length - 1,
  });
  add(
    "payload shorter than payload_size",
    "frame",
    base(okPayload).subarray(0, HEADER_SIZE + 2),
    "TRUNCATED",
  );
  const trailing = new Uint8Array(HEADER_SIZE + okPayload.length + 1);
  trailing.set(base(okPayload));
  add("a byte after the frame", "frame", trailing, "TRAILING_BYTES");

  const badPayload = (name: string, value: unknown, op: number = Opcode.APP_MESSAGE) =>
    add(name, "payload", base(cborEncode(value), op), "BAD_PAYLOAD");
  badPayload("missing field", { generation: 1 });
  badPayload("extra field", { generation: 1, ciphertext: b(1), extra: true });
  badPayload("wrongly typed field", { generation: "1", ciphertext: b(1) });
  badPayload("negative uint", { generation: -1, ciphertext: b(1) });
  badPayload("payload is not a map", [1, b(1)]);
  badPayload("bytes(32) of the wrong length", { nonce: fill(31, 1) }, Opcode.AUTH_RESPONSE);
  badPayload("u64 beyond 2^64-1", { sender_id: 2n ** 64n }, Opcode.AUTH_OK);
  badPayload("scope outside room|hub", { user_id: "m", scope: "world", reason: "" }, Opcode.BAN);
  // Strict CBOR subset (docs/protocol.md "Payloads"): raw bytes, since our encoder cannot
  // produce them. APP_MESSAGE {generation, ciphertext} with one defect each.
  const gen = "6a67656e65726174696f6e"; // "generation"
  const ct = "6a63697068657274657874"; // "ciphertext"
  const raw = (name: string, hexs: string, op: number = Opcode.APP_MESSAGE) =>
    add(name, "payload", base(new Uint8Array(Buffer.from(hexs, "hex")), op), "BAD_PAYLOAD");
  raw("duplicate map key", `a3${gen}01${ct}4101${gen}02`);
  raw("float where an integer is expected", `a2${gen}f93c00${ct}4101`);
  raw("tagged integer (bignum)", `a2${gen}c24101${ct}4101`);
  raw(
    "invalid UTF-8 in text",
    "a26775736572 5f6964 62c328 66726561736f6e 60".replace(/ /g, ""),
    Opcode.KICK,
  );
  raw("integer map key", `a2${gen}01${"01"}4101`);
  add("trailing CBOR after the map", "payload", base(b(0xa0, 0x00), Opcode.ACK), "BAD_PAYLOAD");
  add("empty payload", "payload", base(b(), Opcode.ACK), "BAD_PAYLOAD");
  add(
    "truncated CBOR",
    "payload",
    base(okPayload.subarray(0, okPayload.length - 1)),
    "BAD_PAYLOAD",
  );

  const flipped = base(okPayload);
  flipped[flipped.length - 1]! ^= 0x01; // inside the ciphertext bytes: still valid CBOR
  const pk = { public_key: hex(device.publicKey) };
  add("payload bit flipped after signing", "signature", flipped, "BAD_SIGNATURE", pk);
  const epochFlip = base(okPayload);
  epochFlip[59]! ^= 0x80;
  add("epoch changed after signing", "signature", epochFlip, "BAD_SIGNATURE", pk);
  add("signed by another key", "signature", base(okPayload), "BAD_SIGNATURE", {
    public_key: hex(hub.publicKey),
  });
  // A hub's signature covers its whole header (DESIGN §3): a receipt is a proof of position.
  const hubAck = encodeFrame({
    flags: Flag.RESPONSE,
    opcode: Opcode.ACK,
    requestId: 7,
    roomId: room,
    senderId: 0n,
    logIndex: 41n,
    hlcTimestamp: 0x0000_0193_0000_0007n,
    epoch: 5n,
    payload: encodePayload(Opcode.ACK, {}),
  });
  signFrame(hubAck, hub.signer);
  const movedAck = hubAck.slice();
  stampSequence(movedAck, 40n, 0x0000_0193_0000_0007n);
  add("hub ACK with log_index changed after signing", "signature", movedAck, "BAD_SIGNATURE", {
    public_key: hex(hub.publicKey),
  });
  const retimedAck = hubAck.slice();
  stampSequence(retimedAck, 41n, 0x0000_0193_0000_0008n);
  add(
    "hub ACK with hlc_timestamp changed after signing",
    "signature",
    retimedAck,
    "BAD_SIGNATURE",
    {
      public_key: hex(hub.publicKey),
    },
  );
  add(
    "unsigned (zero signature)",
    "signature",
    encodeFrame({
      opcode: Opcode.PING,
      requestId: 1,
      roomId: 0n,
      senderId: device.senderId,
      epoch: 0n,
      payload: encodePayload(Opcode.PING, { nonce: 1 }),
    }),
    "BAD_SIGNATURE",
    pk,
  );

  const keyJson = (k: typeof device, seedLabel: string, senderId = k.senderId) => ({
    seed: hex(k.seed),
    public_key: hex(k.publicKey),
    sender_id: senderId.toString(),
    seed_label: seedLabel,
  });
  return {
    description:
      "Kalandra wire protocol v1 test vectors (docs/protocol.md). Valid frames decode, their payload decodes to `payload`, and their signature verifies with `public_key`; invalid frames fail at `stage` with `error`.",
    json_conventions:
      'byte strings {"$bytes": hex}; u64 payload values {"$u64": decimal}; header u64/u128 fields as decimal strings',
    keys: {
      device: keyJson(device, "kalandra/test-vectors/device"),
      hub: keyJson(hub, "kalandra/test-vectors/hub", 0n),
    },
    valid,
    invalid,
  };
}

const here = dirname(fileURLToPath(import.meta.url));
export const VECTORS_PATH = join(here, "vectors.json");

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(VECTORS_PATH, `${JSON.stringify(buildVectors(), null, 2)}\n`);
  console.log(`wrote ${VECTORS_PATH}`);
}
