/**
 * Issue 16, the admin surface, against a real kalandrad (two worker shards, each with its
 * own storage and audit chain) driven by real client cores: rooms listed and inspected,
 * users and devices with their rooms, a room deleted (its messages erased, the room then
 * refused to its members while the other room keeps talking), every audit chain read; over
 * HTTP and through `kalandrad admin …`. Every new route is called without the token, with a
 * wrong one and with bad input: refused, audited, nothing done, the hub unharmed.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { encodePayload, Opcode } from "@kalandra/proto";
import { waitUntil } from "@kalandra/test-support";
import { afterAll, beforeAll, expect, it } from "vitest";
import { closeUser, enc, openUser, rawAs, type User } from "./clientCores.js";
import { errorName, pingOk, RawSession, type SecurityHub, startHub } from "./hub.js";
import { ADMIN_TOKEN, admin } from "./identityHub.js";

const BIN = join(
  dirname(createRequire(import.meta.url).resolve("@kalandra/server")),
  "../bin/kalandrad.mjs",
);

let hub: SecurityHub;
let bystander: RawSession;
const users: User[] = [];
const raws: RawSession[] = [];

const until = (pred: () => boolean, what: string) =>
  waitUntil(pred, what, { timeoutMs: 20_000, intervalMs: 20 });

async function user(id: string): Promise<User> {
  const u = await openUser(hub, id);
  users.push(u);
  return u;
}

/** A room of `owner` with `others` in it, `n` messages sent by the owner and read by all. */
async function roomWith(owner: User, others: User[], n: number, tag: string): Promise<bigint> {
  const room = await owner.client.createRoom();
  for (const o of others) await o.client.expectWelcome(room);
  await owner.client.addMembers(
    room,
    others.map((o) => o.client.userId),
  );
  for (const o of others) {
    await until(() => o.client.room(room)?.phase.kind === "synchronized", `${tag}: joined`);
  }
  for (let i = 0; i < n; i++) await owner.client.send(room, enc(`${tag} ${i}`));
  for (const o of others) await until(() => o.texts.includes(`${tag} ${n - 1}`), `${tag}: read`);
  return room;
}

/** `kalandrad admin …` against the running hub: exit code and the JSON it printed. */
function cli(args: string[]): Promise<{ code: number | null; out: unknown; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [BIN, "admin", ...args, "--url", `http://127.0.0.1:${hub.monitoringPort}`],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, KALANDRA_ADMIN_TOKEN: ADMIN_TOKEN },
      },
    );
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out: out.trim() === "" ? undefined : JSON.parse(out), err });
    });
  });
}

async function raw(
  method: string,
  path: string,
  o: { token?: string; body?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  const res = await fetch(`http://127.0.0.1:${hub.monitoringPort}${path}`, {
    method,
    headers,
    ...(o.body === undefined ? {} : { body: o.body }),
  });
  const text = await res.text();
  return { status: res.status, body: text === "" ? {} : JSON.parse(text) };
}

beforeAll(async () => {
  hub = await startHub({
    monitoring: true,
    env: {
      KALANDRA_MONITORING__ADMIN_TOKEN: ADMIN_TOKEN,
      KALANDRA_SERVER__SHARDS: "2",
      KALANDRA_SERVER__SHARD_RUNTIME: "worker",
    },
  });
  bystander = await RawSession.open(hub, "bystander");
}, 30_000);
afterAll(async () => {
  for (const s of raws) s.close();
  for (const u of users) closeUser(u);
  bystander?.close();
  await hub?.stop();
});

it("lists and inspects rooms, users and devices, deletes a room, reads every audit chain", async () => {
  const alice = await user("alice");
  const bob = await user("bob");
  const carol = await user("carol");
  const doomed = await roomWith(alice, [bob], 4, "doomed");
  const kept = await roomWith(alice, [carol], 2, "kept");

  const list = await admin(hub, "GET", "/admin/rooms");
  expect(list.status).toBe(200);
  const rooms = list.body.rooms as Record<string, unknown>[];
  const ofDoomed = rooms.find((r) => r.room === doomed.toString());
  expect(ofDoomed).toMatchObject({
    status: "active",
    members: 2,
    users: 2,
    creator: "alice",
    epoch: "1",
    authority: { term: "0" },
  });
  expect(Number(ofDoomed?.last_log_index)).toBeGreaterThanOrEqual(5);
  expect(ofDoomed?.size_bytes as number).toBeGreaterThan(1000);
  expect(rooms.some((r) => r.room === kept.toString())).toBe(true);

  const shown = await cli(["rooms", "show", `0x${kept.toString(16)}`]);
  expect(shown).toMatchObject({ code: 0, out: { room: kept.toString(), members: 2 } });
  const aliceInfo = await cli(["users", "show", "alice"]);
  expect(aliceInfo.code).toBe(0);
  expect((aliceInfo.out as { rooms: { room: string }[] }).rooms.map((r) => r.room).sort()).toEqual(
    [doomed.toString(), kept.toString()].sort(),
  );
  const bobDevice = await cli(["devices", "show", bob.client.senderId.toString()]);
  expect(bobDevice.out).toMatchObject({ user: "bob", rooms: [{ room: doomed.toString() }] });

  const del = await cli(["rooms", "delete", doomed.toString(), "--reason", "abuse"]);
  expect(del.code).toBe(0);
  expect(del.out).toMatchObject({ ok: true, again: false, dropped_headers: 0 });
  expect((del.out as { erased: number }).erased).toBe(Number(ofDoomed?.last_log_index) + 1);

  // The room answers as deleted, to the operator and to its members.
  const after = await admin(hub, "GET", `/admin/rooms/${doomed}`);
  expect(after.body).toMatchObject({ status: "deleted", live_payloads: 0 });
  const bobRaw = await rawAs(hub, bob);
  raws.push(bobRaw);
  const refused = await bobRaw.request({
    opcode: Opcode.SYNC_REQUEST,
    roomId: doomed,
    epoch: 1n,
    payload: encodePayload(Opcode.SYNC_REQUEST, { from: 0n, limit: 10 }),
  });
  expect(errorName(refused)).toBe("UNKNOWN_ROOM");
  // The other room keeps talking.
  await alice.client.send(kept, enc("still here"));
  await until(() => carol.texts.includes("still here"), "carol reads after the deletion");
  await pingOk(bystander);

  // Every chain: the hub's (the deletion) and each worker shard's own (its erasures).
  const audit = await admin(hub, "GET", "/admin/audit?limit=10000");
  const chains = audit.body.chains as {
    chain: string;
    verification: { ok: boolean };
    records: { kind: string; actor: string; room?: string }[];
  }[];
  expect(chains.map((c) => c.chain)).toEqual(["hub", "shard-0", "shard-1"]);
  expect(chains.every((c) => c.verification.ok)).toBe(true);
  expect(chains[0]?.records.find((r) => r.kind === "room_delete")).toMatchObject({
    room: doomed.toString(),
  });
  const erasures = chains
    .slice(1)
    .flatMap((c) => c.records)
    .filter((r) => r.kind === "secure_delete" && r.room === doomed.toString());
  expect(erasures.length).toBe((del.out as { erased: number }).erased);
  const one = await cli(["audit", "--chain", "shard-1", "--limit", "1"]);
  expect((one.out as { chains: { chain: string }[] }).chains.map((c) => c.chain)).toEqual([
    "shard-1",
  ]);
}, 120_000);

it("refuses every new route without the token, with a wrong one and with bad input", async () => {
  const routes: [string, string, string?][] = [
    ["GET", "/admin/rooms"],
    ["GET", "/admin/rooms/1"],
    ["POST", "/admin/rooms/delete", JSON.stringify({ room: "1" })],
    ["GET", "/admin/users/alice"],
    ["GET", "/admin/devices/1"],
    ["GET", "/admin/audit?chain=shard-0"],
  ];
  for (const [method, path, body] of routes) {
    const none = await raw(method, path, body === undefined ? {} : { body });
    expect(none.status, `${method} ${path}`).toBe(401);
    const wrong = await raw(method, path, { token: "not-the-token", ...(body ? { body } : {}) });
    expect(wrong.status, `${method} ${path}`).toBe(401);
  }
  const bad: [string, string, string?][] = [
    ["GET", "/admin/rooms?limit=0"],
    ["GET", "/admin/rooms?after=room"],
    ["GET", "/admin/rooms/%zz"],
    ["GET", "/admin/rooms/0x"],
    ["POST", "/admin/rooms/delete", "{not json"],
    ["POST", "/admin/rooms/delete", JSON.stringify({ room: -1 })],
    ["POST", "/admin/rooms/delete", JSON.stringify({ room: "1", drop_headers: 1 })],
    ["GET", "/admin/users/%zz"],
    ["GET", "/admin/devices/-5"],
  ];
  for (const [method, path, body] of bad) {
    const r = await raw(method, path, { token: ADMIN_TOKEN, ...(body ? { body } : {}) });
    expect(r.status, `${method} ${path}`).toBe(400);
  }
  const missing = await cli(["rooms", "delete", "123456789"]);
  expect(missing.code).toBe(1);
  expect(missing.err).toContain("UNKNOWN_ROOM");
  // The refusals are audited; the hub still serves.
  const audit = await admin(hub, "GET", "/admin/audit?chain=hub&limit=10000");
  const refused = (audit.body.records as { kind: string; detail: { path?: string } }[]).filter(
    (r) => r.kind === "admin_refused",
  );
  expect(refused.map((r) => r.detail.path)).toEqual(
    expect.arrayContaining(["/admin/rooms", "/admin/rooms/delete", "/admin/devices/1"]),
  );
  await pingOk(bystander);
}, 60_000);
