/**
 * Issue 17, attachments against a real kalandrad (worker shards, synced LMDB): members of
 * a room made by real client cores upload and fetch blobs over raw sessions speaking as
 * their devices; every bad input (malformed payloads, a wrong hash, oversize, over quota,
 * a chunk out of order, a fetch by a non-member, a fetch after erasure) is answered with
 * its typed error and nothing is stored, the hub keeps serving everyone, and after the
 * referencing message is redacted no file of the data directory holds the blob.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  BLOB_CHUNK_SIZE,
  blobIdOf,
  chunkLength,
  decodePayload,
  encodeFrame,
  encodePayload,
  Flag,
  Opcode,
  type PayloadOf,
} from "@kalandra/proto";
import { seededBytes, waitUntil } from "@kalandra/test-support";
import { afterAll, beforeAll, expect, it } from "vitest";
import { closeUser, openUser, rawAs, type User } from "./clientCores.js";
import { errorName, expectOpcode, pingOk, RawSession, type SecurityHub, startHub } from "./hub.js";

let hub: SecurityHub;
let alice: User;
let bob: User;
let room: bigint;
let a: RawSession;
let b: RawSession;
let mallory: RawSession;

const MiB = 1024 * 1024;

beforeAll(async () => {
  hub = await startHub({
    env: {
      KALANDRA_ATTACHMENTS__MAX_BLOB_BYTES: String(2 * MiB),
      KALANDRA_ATTACHMENTS__USER_QUOTA_BYTES: String(3 * MiB),
      KALANDRA_ATTACHMENTS__ROOM_QUOTA_BYTES: String(4 * MiB),
    },
  });
  alice = await openUser(hub, "alice");
  bob = await openUser(hub, "bob");
  room = await alice.client.createRoom();
  await bob.client.expectWelcome(room);
  await alice.client.addMembers(room, ["bob"]);
  await waitUntil(() => bob.client.room(room)?.phase.kind === "synchronized", "bob joined", {
    timeoutMs: 20_000,
    intervalMs: 20,
  });
  a = await rawAs(hub, alice);
  b = await rawAs(hub, bob);
  mallory = await RawSession.open(hub, "mallory");
}, 60_000);

afterAll(async () => {
  for (const s of [a, b, mallory]) s?.close();
  closeUser(alice);
  closeUser(bob);
  await hub?.stop();
});

const idOf = (blob: Uint8Array) => blobIdOf(blob);
const epoch = () => alice.client.room(room)?.epoch ?? 0n;

/**
 * One request of a raw session speaking as a client's device, with request ids far from
 * the ones that client core uses itself: a repeated (sender_id, request_id) would get the
 * core's first answer (DESIGN §4 idempotency), not be sequenced.
 */
let nextId = 0x7000_0000;
function ask<Op extends Opcode>(s: RawSession, opcode: Op, payload: PayloadOf<Op>) {
  const requestId = nextId++;
  const frame = encodeFrame(
    {
      opcode,
      requestId,
      roomId: room,
      senderId: s.key.senderId,
      epoch: epoch(),
      payload: encodePayload(opcode, payload),
    },
    s.key.signer,
  );
  s.ws.send(frame);
  return s.next(
    (f) =>
      f.header.requestId === requestId && (f.header.flags & (Flag.RESPONSE | Flag.ERROR)) !== 0,
  );
}

async function upload(s: RawSession, blob: Uint8Array, id = idOf(blob)): Promise<string> {
  const first = await ask(s, Opcode.BLOB_UPLOAD, { blob_id: id, size: blob.length });
  if (errorName(first) !== undefined) return errorName(first) as string;
  let offset = decodePayload(Opcode.BLOB_UPLOAD_STATE, first.payload).offset;
  while (offset < blob.length) {
    const data = blob.subarray(offset, offset + chunkLength(blob.length, offset));
    const r = await ask(s, Opcode.BLOB_CHUNK, { blob_id: id, offset, data });
    if (errorName(r) !== undefined) return errorName(r) as string;
    const st = decodePayload(Opcode.BLOB_UPLOAD_STATE, r.payload);
    if (st.complete) return "complete";
    offset = st.offset;
  }
  return "incomplete";
}

async function fetchAll(s: RawSession, id: Uint8Array): Promise<Uint8Array | string> {
  const parts: Uint8Array[] = [];
  let offset = 0;
  let size = 1;
  while (offset < size) {
    const r = await ask(s, Opcode.BLOB_FETCH, { blob_id: id, offset });
    if (errorName(r) !== undefined) return errorName(r) as string;
    const d = decodePayload(Opcode.BLOB_DATA, r.payload);
    size = d.size;
    parts.push(d.data.slice());
    offset += d.data.length;
  }
  return Buffer.concat(parts);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

const dataDir = () => join(hub.dir.path, "data");
const holding = (needle: Uint8Array) =>
  filesUnder(dataDir()).filter((f) => readFileSync(f).indexOf(Buffer.from(needle)) >= 0);
const blobFiles = () => filesUnder(dataDir()).filter((f) => f.includes(`${"/blobs/"}`));

it("a member uploads, references and fetches; a non-member learns nothing", async () => {
  const blob = seededBytes(1, BLOB_CHUNK_SIZE * 2 + 99);
  const id = idOf(blob);
  expect(await upload(a, blob)).toBe("complete");
  // Unreferenced: nobody reads it yet.
  expect(await fetchAll(b, id)).toBe("BLOB_NOT_FOUND");
  const ack = await ask(a, Opcode.APP_MESSAGE, {
    generation: 0,
    ciphertext: new Uint8Array([9]),
    attachments: [id],
  });
  expectOpcode(ack, Opcode.ACK);
  const got = await fetchAll(b, id);
  expect(typeof got === "string" ? got : Buffer.from(got).equals(Buffer.from(blob))).toBe(true);
  expect(await fetchAll(mallory, id)).toBe("NOT_MEMBER");
  expect(await upload(mallory, seededBytes(2, 100))).toBe("NOT_MEMBER");
  // The blob's bytes are never in a file as they were sent (sealed under its own key).
  expect(holding(blob.subarray(5000, 5064))).toEqual([]);
  // Redacted by its sender's room owner: the message and the blob are gone for good.
  const redact = await ask(a, Opcode.REDACT, { log_index: ack.header.logIndex, reason: "test" });
  expect(errorName(redact)).toBeUndefined();
  // The erasure follows the redaction (the shard erases the frame, then its blob).
  let after: Uint8Array | string = "";
  for (let i = 0; i < 100 && after !== "BLOB_NOT_FOUND"; i++) {
    after = await fetchAll(b, id);
    if (after !== "BLOB_NOT_FOUND") await sleep(100);
  }
  expect(after).toBe("BLOB_NOT_FOUND");
  expect(blobFiles().filter((f) => f.includes(Buffer.from(id).toString("hex")))).toEqual([]);
}, 60_000);

it("answers every bad input with its typed error, stores nothing, and keeps serving", async () => {
  const before = blobFiles().length;
  const garbage = await b.request({
    opcode: Opcode.BLOB_UPLOAD,
    roomId: room,
    epoch: epoch(),
    payload: new Uint8Array([0xa1, 0x61, 0x78, 0x01]),
  });
  expect(errorName(garbage)).toBe("BAD_PAYLOAD");
  const shortId = await b.request({
    opcode: Opcode.BLOB_FETCH,
    roomId: room,
    payload: encodePayload(Opcode.BLOB_FETCH, { blob_id: new Uint8Array(32), offset: 0 }).subarray(
      0,
      10,
    ),
  });
  expect(errorName(shortId)).toBe("BAD_PAYLOAD");
  // Over max_blob_bytes.
  expect(
    errorName(await ask(a, Opcode.BLOB_UPLOAD, { blob_id: new Uint8Array(32), size: 2 * MiB + 1 })),
  ).toBe("BLOB_TOO_LARGE");
  // Bytes that do not hash to their id.
  const wrong = seededBytes(3, BLOB_CHUNK_SIZE + 1);
  expect(await upload(a, wrong, idOf(seededBytes(4, BLOB_CHUNK_SIZE + 1)))).toBe("HASH_MISMATCH");
  // A chunk out of order.
  const blob = seededBytes(5, 2 * BLOB_CHUNK_SIZE);
  const id = idOf(blob);
  expectOpcode(
    await ask(b, Opcode.BLOB_UPLOAD, { blob_id: id, size: blob.length }),
    Opcode.BLOB_UPLOAD_STATE,
  );
  const late = await ask(b, Opcode.BLOB_CHUNK, {
    blob_id: id,
    offset: BLOB_CHUNK_SIZE,
    data: blob.subarray(BLOB_CHUNK_SIZE),
  });
  expect(errorName(late)).toBe("CHUNK_OUT_OF_ORDER");
  // A chunk for an upload nobody began.
  const orphan = await ask(b, Opcode.BLOB_CHUNK, {
    blob_id: new Uint8Array(32).fill(7),
    offset: 0,
    data: new Uint8Array(1),
  });
  expect(errorName(orphan)).toBe("UPLOAD_EXPIRED");
  // Quotas: alice may hold 3 MiB (uploads in progress count), the room 4 MiB.
  expectOpcode(
    await ask(a, Opcode.BLOB_UPLOAD, { blob_id: new Uint8Array(32).fill(1), size: 2 * MiB }),
    Opcode.BLOB_UPLOAD_STATE,
  );
  expect(
    errorName(
      await ask(a, Opcode.BLOB_UPLOAD, { blob_id: new Uint8Array(32).fill(2), size: 2 * MiB }),
    ),
  ).toBe("QUOTA_EXCEEDED");
  expectOpcode(
    await ask(b, Opcode.BLOB_UPLOAD, { blob_id: new Uint8Array(32).fill(3), size: MiB }),
    Opcode.BLOB_UPLOAD_STATE,
  );
  expect(
    errorName(await ask(b, Opcode.BLOB_UPLOAD, { blob_id: new Uint8Array(32).fill(4), size: MiB })),
  ).toBe("QUOTA_EXCEEDED");
  // A message naming a blob the room does not hold is refused and not sequenced.
  const dangling = await ask(a, Opcode.APP_MESSAGE, {
    generation: 0,
    ciphertext: new Uint8Array([1]),
    attachments: [new Uint8Array(32).fill(9)],
  });
  expect(errorName(dangling)).toBe("BLOB_NOT_FOUND");
  // Nothing complete was stored by any of these (partial uploads are `.part` files).
  expect(blobFiles().filter((f) => !f.endsWith(".part")).length).toBe(before);
  await pingOk(mallory);
  await pingOk(a);
}, 60_000);
