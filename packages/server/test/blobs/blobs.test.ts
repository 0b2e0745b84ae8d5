/**
 * Attachments through the hub core over the LMDB storage (issue 17, docs/protocol.md
 * "Attachments"): upload in chunks, reference, fetch, every refusal with nothing stored,
 * collection, erasure with a raw scan of the data directory, and a restart.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BLOB_CHUNK_SIZE,
  chunkLength,
  decodePayload,
  Opcode,
  type PayloadOf,
} from "@kalandra/proto";
import { seededBytes } from "@kalandra/test-support";
import { blake3 } from "@noble/hashes/blake3.js";
import { afterEach, describe, expect, it } from "vitest";
import type { HubLimits } from "../../src/hub/hubCore.js";
import { openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import {
  type Answer,
  type Client,
  type Env,
  errorName,
  frameOf,
  makeClient,
  makeEnv,
  openHub,
  send,
} from "../hub/harness.js";
import { roomWith } from "../sequencer/room.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const idOf = (blob: Uint8Array) => blake3(blob, { dkLen: 32 });

async function setup(attachments: Partial<HubLimits["attachments"]> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "kalandra-blobs-"));
  dirs.push(dir);
  const storage = await openLmdbStorage({ path: dir, noSync: true });
  const limits = { attachments: { ...defaults(), ...attachments } } as Partial<HubLimits>;
  const env = await makeEnv({ storage, limits });
  const room = await roomWith(["alice", "bob"], { env });
  const carol = await makeClient(env, "carol");
  const [alice, bob] = room.members as [Client, Client];
  return { env, storage, roomId: room.roomId, alice, bob, carol, dir };
}

function defaults(): HubLimits["attachments"] {
  return {
    maxBlobBytes: 4 * 1024 * 1024,
    userQuotaBytes: 6 * 1024 * 1024,
    roomQuotaBytes: 8 * 1024 * 1024,
    unreferencedGraceMs: 60_000,
    uploadExpiryMs: 30_000,
  };
}

function state(a: Answer): PayloadOf<typeof Opcode.BLOB_UPLOAD_STATE> {
  if (a.opcode !== Opcode.BLOB_UPLOAD_STATE) throw new Error(`answer ${a.error?.name ?? a.opcode}`);
  return decodePayload(Opcode.BLOB_UPLOAD_STATE, a.frame.payload);
}

const begin = (env: Env, c: Client, roomId: bigint, blobId: Uint8Array, size: number) =>
  send(env, c, frameOf(c, Opcode.BLOB_UPLOAD, roomId, 1n, { blob_id: blobId, size }));

const chunk = (
  env: Env,
  c: Client,
  roomId: bigint,
  blobId: Uint8Array,
  blob: Uint8Array,
  offset: number,
) =>
  send(
    env,
    c,
    frameOf(c, Opcode.BLOB_CHUNK, roomId, 1n, {
      blob_id: blobId,
      offset,
      data: blob.subarray(offset, offset + chunkLength(blob.length, offset)),
    }),
  );

/** Uploads `blob` whole; returns the last answer. */
async function upload(env: Env, c: Client, roomId: bigint, blob: Uint8Array, id = idOf(blob)) {
  let a = await begin(env, c, roomId, id, blob.length);
  if (a.error !== undefined) return a;
  let offset = state(a).offset;
  while (offset < blob.length) {
    a = await chunk(env, c, roomId, id, blob, offset);
    if (a.error !== undefined) return a;
    offset = state(a).offset;
  }
  return a;
}

const message = (c: Client, roomId: bigint, ids: Uint8Array[]) =>
  frameOf(c, Opcode.APP_MESSAGE, roomId, 1n, {
    generation: 0,
    ciphertext: new Uint8Array([1, 2, 3]),
    attachments: ids,
  });

async function fetchAll(
  env: Env,
  c: Client,
  roomId: bigint,
  id: Uint8Array,
): Promise<Uint8Array | string> {
  const parts: Uint8Array[] = [];
  let offset = 0;
  let size = 1;
  while (offset < size) {
    const a = await send(
      env,
      c,
      frameOf(c, Opcode.BLOB_FETCH, roomId, 1n, { blob_id: id, offset }),
    );
    if (a.error !== undefined) return a.error.name;
    const d = decodePayload(Opcode.BLOB_DATA, a.frame.payload);
    size = d.size;
    parts.push(d.data.slice());
    offset += d.data.length;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Every file under `dir`, for raw scans. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

function foundIn(dir: string, needle: Uint8Array): string[] {
  const n = Buffer.from(needle);
  return filesUnder(dir).filter((f) => readFileSync(f).indexOf(n) >= 0);
}

describe("attachments through the hub (blobs/)", () => {
  it("uploads in chunks, is referenced by a message, and a member fetches the same bytes", async () => {
    const { env, roomId, alice, bob } = await setup();
    const blob = seededBytes(1, 2 * BLOB_CHUNK_SIZE + 1234);
    const id = idOf(blob);
    const done = state(await upload(env, alice, roomId, blob));
    expect(done).toMatchObject({ complete: true, offset: blob.length, size: blob.length });
    // Not referenced yet: nobody reads it.
    expect(await fetchAll(env, bob, roomId, id)).toBe("BLOB_NOT_FOUND");
    const before = env.storage.nextIndex(roomId);
    expect((await send(env, alice, message(alice, roomId, [id]))).opcode).toBe(Opcode.ACK);
    expect(env.storage.nextIndex(roomId)).toBe(before + 1n);
    const got = await fetchAll(env, bob, roomId, id);
    expect(got).toEqual(blob);
    expect(idOf(got as Uint8Array)).toEqual(id);
    // Beginning again finds it complete (an answer lost on the way).
    expect(state(await begin(env, alice, roomId, id, blob.length)).complete).toBe(true);
  });

  it("refuses outsiders, unknown references, oversize, quotas and wrong hashes, keeping nothing", async () => {
    const { env, storage, roomId, alice, bob, carol, dir } = await setup();
    const blob = seededBytes(2, 1000);
    const id = idOf(blob);
    expect(errorName(await begin(env, carol, roomId, id, blob.length))).toBe("NOT_MEMBER");
    // A message naming a blob the room does not hold is not sequenced.
    const before = env.storage.nextIndex(roomId);
    expect(errorName(await send(env, alice, message(alice, roomId, [id])))).toBe("BLOB_NOT_FOUND");
    expect(env.storage.nextIndex(roomId)).toBe(before);
    // Over max_blob_bytes, and zero bytes.
    expect(errorName(await begin(env, alice, roomId, id, 4 * 1024 * 1024 + 1))).toBe(
      "BLOB_TOO_LARGE",
    );
    expect(errorName(await begin(env, alice, roomId, id, 0))).toBe("BLOB_TOO_LARGE");
    // The user's quota (6 MiB) counts uploads in progress.
    const big = seededBytes(3, 4 * 1024 * 1024);
    expect(state(await begin(env, alice, roomId, idOf(big), big.length)).offset).toBe(0);
    expect(errorName(await begin(env, alice, roomId, seededBytes(9, 32), 3 * 1024 * 1024))).toBe(
      "QUOTA_EXCEEDED",
    );
    // The room's (8 MiB): bob's own quota has room, the room has not.
    expect(state(await begin(env, bob, roomId, seededBytes(10, 32), 3 * 1024 * 1024)).offset).toBe(
      0,
    );
    expect(errorName(await begin(env, bob, roomId, seededBytes(11, 32), 2 * 1024 * 1024))).toBe(
      "QUOTA_EXCEEDED",
    );
    // Bytes that do not hash to the id: refused at completion, nothing kept.
    const wrong = seededBytes(4, BLOB_CHUNK_SIZE + 10);
    const claimed = idOf(seededBytes(5, BLOB_CHUNK_SIZE + 10));
    expect(errorName(await upload(env, bob, roomId, wrong, claimed))).toBe("HASH_MISMATCH");
    expect(storage.blobs.get(roomId, claimed)).toBeUndefined();
    expect(
      filesUnder(join(dir, "blobs")).filter((f) =>
        f.includes(Buffer.from(claimed).toString("hex")),
      ),
    ).toEqual([]);
    expect(foundIn(dir, wrong.subarray(0, 64))).toEqual([]);
    // After the mismatch the upload is gone: a chunk for it is UPLOAD_EXPIRED.
    expect(errorName(await chunk(env, bob, roomId, claimed, wrong, 0))).toBe("UPLOAD_EXPIRED");
  });

  it("takes chunks only in order, answers retransmissions, resumes, and keeps an upload to its device", async () => {
    const { env, roomId, alice, bob } = await setup();
    const blob = seededBytes(6, 3 * BLOB_CHUNK_SIZE);
    const id = idOf(blob);
    expect(state(await begin(env, alice, roomId, id, blob.length)).offset).toBe(0);
    expect(errorName(await chunk(env, alice, roomId, id, blob, BLOB_CHUNK_SIZE))).toBe(
      "CHUNK_OUT_OF_ORDER",
    );
    const short = frameOf(alice, Opcode.BLOB_CHUNK, roomId, 1n, {
      blob_id: id,
      offset: 0,
      data: blob.subarray(0, 10),
    });
    expect(errorName(await send(env, alice, short))).toBe("CHUNK_OUT_OF_ORDER");
    expect(state(await chunk(env, alice, roomId, id, blob, 0)).offset).toBe(BLOB_CHUNK_SIZE);
    // The same chunk again (its answer lost): the state, nothing written twice.
    expect(state(await chunk(env, alice, roomId, id, blob, 0)).offset).toBe(BLOB_CHUNK_SIZE);
    // Another device may not write into it.
    expect(errorName(await begin(env, bob, roomId, id, blob.length))).toBe("FORBIDDEN");
    expect(errorName(await chunk(env, bob, roomId, id, blob, BLOB_CHUNK_SIZE))).toBe("FORBIDDEN");
    // A new session of the device resumes where it stopped.
    env.hub.detachSession(alice.sessionId);
    alice.sessionId = `${alice.sessionId}-again`;
    env.hub.attachSession(alice.sessionId, alice.signer.publicKey, "alice");
    expect(state(await begin(env, alice, roomId, id, blob.length)).offset).toBe(BLOB_CHUNK_SIZE);
    expect(state(await upload(env, alice, roomId, blob)).complete).toBe(true);
  });

  it("discards idle uploads and collects blobs nobody referenced within the grace period", async () => {
    const { env, storage, roomId, alice } = await setup();
    const kept = seededBytes(7, 5000);
    const dropped = seededBytes(8, 6000);
    const partial = seededBytes(9, 2 * BLOB_CHUNK_SIZE);
    expect(state(await upload(env, alice, roomId, kept)).complete).toBe(true);
    expect(state(await upload(env, alice, roomId, dropped)).complete).toBe(true);
    await begin(env, alice, roomId, idOf(partial), partial.length);
    await chunk(env, alice, roomId, idOf(partial), partial, 0);
    expect((await send(env, alice, message(alice, roomId, [idOf(kept)]))).opcode).toBe(Opcode.ACK);
    env.time.advance(61_000);
    // The next new upload runs the sweep.
    await begin(env, alice, roomId, idOf(seededBytes(1, 10)), 10);
    expect(
      errorName(await chunk(env, alice, roomId, idOf(partial), partial, BLOB_CHUNK_SIZE)),
    ).toBe("UPLOAD_EXPIRED");
    expect(storage.blobs.get(roomId, idOf(dropped))).toBeUndefined();
    expect(storage.blobs.get(roomId, idOf(kept))?.refs).toBe(1);
    const erased = storage.readAudit().filter((r) => r.kind === "blob_erase");
    expect(erased.map((r) => r.detail.reason)).toEqual(["never referenced"]);
  });

  it("collects on its own timer, with no later upload, and leaves no timer once nothing is left", async () => {
    const { env, storage, roomId, alice, dir } = await setup();
    const idleTimers = env.time.pendingTimers;
    const dropped = seededBytes(18, 6000);
    const partial = seededBytes(19, 2 * BLOB_CHUNK_SIZE);
    expect(state(await upload(env, alice, roomId, dropped)).complete).toBe(true);
    await begin(env, alice, roomId, idOf(partial), partial.length);
    await chunk(env, alice, roomId, idOf(partial), partial, 0);
    expect(env.time.pendingTimers).toBe(idleTimers + 1);
    // A tenth of the shorter period (30 s) apart: the upload expires at 30 s, the blob at 60 s.
    for (let t = 0; t < 66_000; t += 3_000) {
      env.time.advance(3_000);
      await storage.idle();
      await new Promise((r) => setImmediate(r));
    }
    expect(storage.blobs.get(roomId, idOf(dropped))).toBeUndefined();
    expect(filesUnder(join(dir, "blobs"))).toEqual([]);
    expect(
      errorName(await chunk(env, alice, roomId, idOf(partial), partial, BLOB_CHUNK_SIZE)),
    ).toBe("UPLOAD_EXPIRED");
    expect(env.time.pendingTimers).toBe(idleTimers);
  });

  it("erases a blob when its last referencing message is erased: no byte of its key is left", async () => {
    const { env, storage, roomId, alice, bob, dir } = await setup();
    const blob = seededBytes(12, BLOB_CHUNK_SIZE + 77);
    const id = idOf(blob);
    await upload(env, alice, roomId, blob);
    const first = env.storage.nextIndex(roomId);
    expect((await send(env, alice, message(alice, roomId, [id]))).opcode).toBe(Opcode.ACK);
    expect((await send(env, bob, message(bob, roomId, [id]))).opcode).toBe(Opcode.ACK);
    const key = storage.inspectBlobKey(roomId, id)!;
    expect(key).toHaveLength(32);
    // The scan finds the key while the blob lives (in keys.vault only), never the bytes in clear.
    expect(foundIn(dir, key).map((f) => f.slice(dir.length))).toEqual(["/keys.vault"]);
    expect(foundIn(dir, blob.subarray(1000, 1064))).toEqual([]);
    await storage.secureDelete(roomId, first);
    expect(storage.blobs.get(roomId, id)?.refs).toBe(1);
    expect(await fetchAll(env, bob, roomId, id)).toEqual(blob);
    await storage.secureDelete(roomId, first + 1n);
    await storage.idle();
    expect(storage.blobs.get(roomId, id)).toBeUndefined();
    expect(await fetchAll(env, bob, roomId, id)).toBe("BLOB_NOT_FOUND");
    expect(foundIn(dir, key)).toEqual([]);
    expect(filesUnder(join(dir, "blobs"))).toEqual([]);
    expect(storage.readAudit().filter((r) => r.kind === "blob_erase")).toHaveLength(1);
    expect(storage.verifyAudit().ok).toBe(true);
  });

  it("keeps an acknowledged upload across a restart and forgets unfinished ones", async () => {
    const { env, roomId, alice, bob, dir } = await setup();
    const blob = seededBytes(13, BLOB_CHUNK_SIZE + 5);
    const partial = seededBytes(14, 2 * BLOB_CHUNK_SIZE);
    await upload(env, alice, roomId, blob);
    await send(env, alice, message(alice, roomId, [idOf(blob)]));
    await begin(env, alice, roomId, idOf(partial), partial.length);
    await chunk(env, alice, roomId, idOf(partial), partial, 0);
    // A "crash": the cores dropped, the storage reopened from its directory.
    await env.hub.close?.();
    await env.storage.close();
    env.storage = await openLmdbStorage({ path: dir, noSync: true });
    await openHub(env);
    for (const m of [alice, bob]) env.hub.attachSession(m.sessionId, m.signer.publicKey, m.name);
    // The unfinished upload's file is gone with the restart.
    expect(filesUnder(join(dir, "blobs")).filter((f) => f.endsWith(".part"))).toEqual([]);
    expect(await fetchAll(env, bob, roomId, idOf(blob))).toEqual(blob);
    expect(
      errorName(await chunk(env, alice, roomId, idOf(partial), partial, BLOB_CHUNK_SIZE)),
    ).toBe("UPLOAD_EXPIRED");
    expect(state(await begin(env, alice, roomId, idOf(partial), partial.length)).offset).toBe(0);
    expect(filesUnder(join(dir, "blobs")).filter((f) => f.endsWith(".part"))).toHaveLength(1);
  });
});

describe("attachments when storage fails", () => {
  it("answers INTERNAL for a blob whose file is gone, and keeps serving the room", async () => {
    const { env, roomId, alice, bob, dir } = await setup();
    const blob = seededBytes(21, 3000);
    await upload(env, alice, roomId, blob);
    await send(env, alice, message(alice, roomId, [idOf(blob)]));
    for (const f of filesUnder(join(dir, "blobs"))) rmSync(f);
    expect(await fetchAll(env, bob, roomId, idOf(blob))).toBe("INTERNAL");
    expect((await send(env, bob, message(bob, roomId, []))).opcode).toBe(Opcode.ACK);
  });
});
