/**
 * The operator's rooms (issue 16): list and inspect rooms, users and devices; delete a room
 * with its messages erased through the vault's erase path (headers kept or dropped), after
 * which the room answers as deleted, also across a restart; every action audited. On the
 * LMDB storage, so the erasure is checked by scanning every byte of the data directory.
 */
import { readFileSync } from "node:fs";
import { Opcode } from "@kalandra/proto";
import { afterEach, describe, expect, it } from "vitest";
import { AdminApi, type AdminRequest } from "../../src/moderation/adminApi.js";
import { RoomAdmin } from "../../src/moderation/roomAdmin.js";
import { shardOf } from "../../src/shards/shardOf.js";
import { openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import { type Client, frameOf, makeClient, send } from "../hub/harness.js";
import { appMessage, roomWith } from "../sequencer/room.js";
import { filesUnder, tempDir } from "../storage/helpers.js";
import { type ModEnv, moderatedEnv, reopen } from "./support.js";

const TOKEN = "room-admin-token";
const ROOM_A = 0xa1n;
const ROOM_B = 0xb2n;

const dirs: { cleanup(): void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup();
});

function req(method: string, path: string, body?: unknown, token = TOKEN): AdminRequest {
  const [p, q] = path.split("?");
  return {
    method,
    path: p as string,
    query: new URLSearchParams(q ?? ""),
    authorization: token === "" ? undefined : `Bearer ${token}`,
    operator: "ops",
    body,
  };
}

/** Federation's view for the tests: room B moved to b.example in term 2; A was never moved. */
const FEDERATED = (roomId: bigint) =>
  roomId === ROOM_B ? { authority: "b.example", term: 2n } : undefined;

function adminFor(env: ModEnv): { api: AdminApi; rooms: RoomAdmin } {
  const rooms = new RoomAdmin({
    federated: FEDERATED,
    shards: env.hub.shards,
    audit: (kind, actor, roomId, detail) => env.moderation.audit(kind, actor, roomId, detail),
    storage: env.storage,
    shardChains: false,
    authority: { domain: "example.org", hubKey: "ab" },
    onDeleted: (creator) => env.hub.roomDeleted(creator),
  });
  const api = new AdminApi({
    moderation: env.moderation,
    token: () => TOKEN,
    clock: env.time,
    identity: { devices: env.hub.devices, storage: env.storage, memberships: rooms },
    rooms,
  });
  return { api, rooms };
}

/** Two rooms over two in-process shards on LMDB: A (alice, bob, carol), B (alice, dave). */
async function setup() {
  const dir = tempDir("room-admin");
  dirs.push(dir);
  const storage = await openLmdbStorage({ path: dir.path, noSync: true });
  const env = await moderatedEnv({ storage, limits: { shards: 2 } });
  const a = await roomWith(["alice", "bob", "carol"], { env, roomId: ROOM_A });
  const [alice] = a.members;
  const dave = await makeClient(env, "dave");
  const b = await roomWith([], { env, roomId: ROOM_B, members: [alice!, dave] });
  return { env, dir, storage, a, b, ...adminFor(env) };
}

/** Sends `n` application messages from the room's first member; their log indexes. */
async function talk(
  env: ModEnv,
  room: { members: Client[]; roomId: bigint },
  n: number,
  tag: string,
) {
  const sender = room.members[0]!;
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const r = await send(env, sender, appMessage(sender, room.roomId, 1n, `${tag}-${i}`));
    expect(r.opcode).toBe(Opcode.ACK);
    out.push(r.frame.header.logIndex);
  }
  return out;
}

describe("admin API: rooms", () => {
  it("lists and inspects rooms, users and devices", async () => {
    const { env, api, a, b } = await setup();
    await talk(env, a, 3, "a");
    const list = await api.handle(req("GET", "/admin/rooms"));
    expect(list.status).toBe(200);
    const rooms = (list.body as { rooms: Record<string, unknown>[] }).rooms;
    expect(rooms.map((r) => r.room)).toEqual([ROOM_A.toString(), ROOM_B.toString()]);
    expect(rooms[0]).toMatchObject({
      status: "active",
      epoch: "1",
      members: 3,
      users: 3,
      // 0 create, 1 add commit, 2..4 messages.
      next_index: "5",
      last_log_index: "4",
      frames: 5,
      live_payloads: 5,
      creator: "alice",
      owners: ["alice"],
      join_rule: "open",
      authority: { domain: "example.org", hub_key: "ab", term: "0" },
    });
    // A room that moved names its new authority and term (its key is the peer's pinned one).
    expect(rooms[1]?.authority).toEqual({ domain: "b.example", term: "2" });
    expect(rooms[0]?.size_bytes as number).toBeGreaterThan(5 * (128 + 32));
    // Two shards: each room is answered by the one that owns it.
    expect(rooms.map((r) => r.shard)).toEqual([shardOf(ROOM_A, 2), shardOf(ROOM_B, 2)]);

    const page = await api.handle(req("GET", "/admin/rooms?limit=1"));
    const p1 = page.body as { rooms: { room: string }[]; next?: string };
    expect(p1.rooms.map((r) => r.room)).toEqual([ROOM_A.toString()]);
    expect(p1.next).toBe(ROOM_A.toString());
    const page2 = await api.handle(req("GET", `/admin/rooms?limit=1&after=${p1.next}`));
    expect((page2.body as { rooms: { room: string }[] }).rooms.map((r) => r.room)).toEqual([
      ROOM_B.toString(),
    ]);

    const one = await api.handle(req("GET", `/admin/rooms/0x${ROOM_B.toString(16)}`));
    expect(one).toMatchObject({ status: 200, body: { room: ROOM_B.toString(), members: 2 } });

    const alice = await api.handle(req("GET", "/admin/users/alice"));
    expect(alice.status).toBe(200);
    const ab = alice.body as { devices: unknown[]; rooms: { room: string; role: string }[] };
    expect(ab.devices).toHaveLength(1);
    expect(ab.rooms).toEqual([
      { room: ROOM_A.toString(), role: "owner", leaves: [0] },
      { room: ROOM_B.toString(), role: "owner", leaves: [0] },
    ]);
    const bob = a.members[1]!;
    const dev = await api.handle(req("GET", `/admin/devices/${bob.senderId}`));
    expect(dev).toMatchObject({
      status: 200,
      body: {
        user: "bob",
        sender_id: bob.senderId.toString(),
        rooms: [{ room: ROOM_A.toString(), leaf: 1 }],
      },
    });
    expect(b.roomId).toBe(ROOM_B);
  });

  it("deletes a room: every payload erased for good, headers kept, the room answers as deleted", async () => {
    const { env, api, a, b, storage, dir } = await setup();
    const sent = await talk(env, a, 6, "SECRET-A");
    await talk(env, b, 2, "KEEP-B");
    const keysA = [0n, 1n, ...sent].map((i) => storage.inspectPayloadKey(ROOM_A, i)!);
    const keysB = [0n, 1n, 2n, 3n].map((i) => storage.inspectPayloadKey(ROOM_B, i)!);
    expect(keysA.every((k) => k !== undefined)).toBe(true);

    // Bob and carol never fetched their Welcomes (the harness does not acknowledge them).
    const [, bob0, carol0] = a.members;
    const waiting = (c: Client, room: bigint) =>
      storage.welcomesFor(c.senderId, 0n).filter((w) => w.roomId === room).length;
    expect(waiting(bob0!, ROOM_A)).toBe(1);
    expect(waiting(b.members[1]!, ROOM_B)).toBe(1);
    const del = await api.handle(
      req("POST", "/admin/rooms/delete", { room: ROOM_A.toString(), reason: "abuse" }),
    );
    // Their Welcomes to the deleted room are gone; dave's to the other room stays.
    expect(waiting(bob0!, ROOM_A) + waiting(carol0!, ROOM_A)).toBe(0);
    expect(waiting(b.members[1]!, ROOM_B)).toBe(1);
    expect(del).toEqual({
      status: 200,
      body: { ok: true, erased: 8, dropped_headers: 0, again: false },
    });
    // Audited: the action in the hub's chain, each erasure under the operator's name.
    const audit = storage.readAudit();
    expect(audit.find((r) => r.kind === "room_delete")).toMatchObject({
      actor: "admin:ops",
      roomId: ROOM_A,
      detail: { reason: "abuse", drop_headers: false, erased: 8, welcomes: 2 },
    });
    const erasures = audit.filter((r) => r.kind === "secure_delete" && r.roomId === ROOM_A);
    expect(erasures).toHaveLength(8);
    expect(erasures[0]).toMatchObject({ actor: "admin:ops", detail: { reason: "room deleted" } });
    expect(storage.verifyAudit().ok).toBe(true);

    // The room answers as deleted: inspect, list, members' frames, re-creation, moderation.
    const shown = await api.handle(req("GET", `/admin/rooms/${ROOM_A}`));
    expect(shown).toMatchObject({
      status: 200,
      body: { status: "deleted", frames: 8, live_payloads: 0, last_log_index: "7" },
    });
    expect((shown.body as { epoch?: string }).epoch).toBeUndefined();
    const list = await api.handle(req("GET", "/admin/rooms"));
    expect((list.body as { rooms: { room: string }[] }).rooms.map((r) => r.room)).toEqual([
      ROOM_B.toString(),
    ]);
    const [alice, bob] = a.members;
    const refused = await send(env, bob!, appMessage(bob!, ROOM_A, 1n, "after"));
    expect(refused.error?.name).toBe("UNKNOWN_ROOM");
    const again = await send(
      env,
      alice!,
      frameOf(alice!, Opcode.ROOM_CREATE, ROOM_A, 0n, {
        group_info: new Uint8Array([1]),
        join_rule: "open",
      }),
    );
    expect(again.error?.name).toBe("ROOM_EXISTS");
    const kick = await api.handle(req("POST", "/admin/kick", { room: `${ROOM_A}`, user: "bob" }));
    expect(kick.status).toBe(404);
    expect(storage.readRange(ROOM_A, 0n, 100).map((f) => f.payload)).toEqual(Array(8).fill(null));
    expect(env.hub.roomCount).toBe(1);
    // The other room is untouched and still served.
    expect((await talk(env, b, 1, "KEEP-B"))[0]).toBe(4n);

    // Deleting again is idempotent; dropping the headers afterwards is allowed.
    const twice = await api.handle(req("POST", "/admin/rooms/delete", { room: `${ROOM_A}` }));
    expect(twice.body).toMatchObject({ ok: true, erased: 0, again: true });
    await env.hub.close();
    await storage.close();

    // Every byte of the data directory: no erased key; the kept room's keys are there.
    const files = filesUnder(dir.path).map((p) => readFileSync(p));
    const found = (k: Uint8Array) => files.some((f) => f.indexOf(k) !== -1);
    for (const k of keysA) expect(found(k)).toBe(false);
    for (const k of keysB) expect(found(k)).toBe(true);
  });

  it("drops the headers on request, and a deleted room stays deleted after a restart", async () => {
    const { env, api, a, storage } = await setup();
    await talk(env, a, 3, "x");
    expect(storage.userIndex("alice").some((e) => e.roomId === ROOM_A)).toBe(true);
    const del = await api.handle(
      req("POST", "/admin/rooms/delete", { room: `0x${ROOM_A.toString(16)}`, drop_headers: true }),
    );
    expect(del.body).toEqual({ ok: true, erased: 5, dropped_headers: 5, again: false });
    expect(storage.readRange(ROOM_A, 0n, 100)).toEqual([]);
    expect(storage.userIndex("alice").some((e) => e.roomId === ROOM_A)).toBe(false);
    expect(storage.userIndex("alice").some((e) => e.roomId === ROOM_B)).toBe(true);

    await env.hub.close();
    await reopen(env);
    const after = adminFor(env).api;
    const shown = await after.handle(req("GET", `/admin/rooms/${ROOM_A}`));
    // The log's end is kept in the tombstone when the headers are gone.
    expect(shown).toMatchObject({
      status: 200,
      body: { status: "deleted", frames: 0, last_log_index: "4" },
    });
    expect(env.hub.roomCount).toBe(1);
    const bob = a.members[1]!;
    env.hub.attachSession(bob.sessionId, bob.signer.publicKey, "bob");
    const refused = await send(env, bob, appMessage(bob, ROOM_A, 1n, "after"));
    expect(refused.error?.name).toBe("UNKNOWN_ROOM");
  });

  it("finishes a deletion a crash interrupted (tombstone written, payloads still live)", async () => {
    const { env, a, storage } = await setup();
    await talk(env, a, 2, "y");
    const meta = storage.getRoom(ROOM_A)!;
    await env.hub.close();
    // As if the hub died right after step 2 of shards/roomAdmin.ts.
    await storage.retireRoom({ ...meta, deleted: { at: 1n, nextIndex: 4n } });
    await reopen(env);
    const { rooms } = adminFor(env);
    expect(storage.livePayloads(ROOM_A, 0n, 10)).toEqual([0n, 1n, 2n, 3n]);
    expect(await rooms.resumeDeletions()).toEqual([ROOM_A]);
    expect(storage.livePayloads(ROOM_A, 0n, 10)).toEqual([]);
    expect(await rooms.resumeDeletions()).toEqual([]);
  });

  it("answers bad input with 400/404 and calls without the token with 401, on every new route", async () => {
    const { api, storage } = await setup();
    const bad: [string, string, unknown?][] = [
      ["GET", "/admin/rooms?limit=0"],
      ["GET", "/admin/rooms?limit=1001"],
      ["GET", "/admin/rooms?limit=ten"],
      ["GET", "/admin/rooms?after=-1"],
      ["GET", "/admin/rooms/not-a-room"],
      ["GET", "/admin/rooms/%E0%A4%A"],
      ["GET", `/admin/rooms/${1n << 128n}`],
      ["POST", "/admin/rooms/delete", {}],
      ["POST", "/admin/rooms/delete", { room: "1", drop_headers: "yes" }],
      ["POST", "/admin/rooms/delete", { room: "1", reason: "x".repeat(2000) }],
      ["POST", "/admin/rooms/delete", [1, 2]],
      ["GET", "/admin/users/%E0%A4%A"],
      ["GET", "/admin/devices/xyz"],
      ["GET", `/admin/devices/${1n << 64n}`],
      ["GET", "/admin/audit?from=-3"],
    ];
    for (const [method, path, body] of bad) {
      const r = await api.handle(req(method, path, body));
      expect(r.status, `${method} ${path}`).toBe(400);
      expect((r.body as { error: string }).error).toBe("bad_request");
    }
    const missing: [string, string, unknown?][] = [
      ["GET", "/admin/rooms/12345"],
      ["POST", "/admin/rooms/delete", { room: "12345" }],
      ["GET", "/admin/users/nobody"],
      ["GET", "/admin/devices/77"],
      ["GET", "/admin/audit?chain=shard-9"],
    ];
    for (const [method, path, body] of missing) {
      const r = await api.handle(req(method, path, body));
      expect(r.status, `${method} ${path}`).toBe(404);
    }
    const before = storage.readAudit().length;
    const routes: [string, string][] = [
      ["GET", "/admin/rooms"],
      ["GET", `/admin/rooms/${ROOM_A}`],
      ["POST", "/admin/rooms/delete"],
      ["GET", "/admin/users/alice"],
      ["GET", "/admin/devices/1"],
    ];
    for (const [method, path] of routes) {
      expect((await api.handle(req(method, path, { room: `${ROOM_A}` }, ""))).status).toBe(401);
      expect((await api.handle(req(method, path, { room: `${ROOM_A}` }, "wrong"))).status).toBe(
        401,
      );
    }
    const refusals = storage.readAudit().slice(before);
    expect(refusals).toHaveLength(10);
    expect(refusals.every((r) => r.kind === "admin_refused")).toBe(true);
    // Nothing was deleted by the refused calls.
    expect(storage.getRoom(ROOM_A)?.deleted).toBeUndefined();
  });

  it("reads every audit chain; the in-process hub has one", async () => {
    const { api } = await setup();
    const r = await api.handle(req("GET", "/admin/audit?limit=5"));
    const body = r.body as { chains: { chain: string; total: number }[]; total: number };
    expect(body.chains.map((c) => c.chain)).toEqual(["hub"]);
    expect(body.chains[0]?.total).toBe(body.total);
    const hub = await api.handle(req("GET", "/admin/audit?chain=hub"));
    expect(hub.status).toBe(200);
  });
});
