/**
 * kalandrad with worker-thread shards (its default runtime, DESIGN §9), as a process, over
 * real WebTransport sessions with ts-mls members: two rooms on different shards sequence,
 * fan out, sync; moderation reaches the shard that owns the room (a ban refuses an add
 * there, kick, redaction with erasure in that shard's storage); SIGTERM drains and exits
 * 0; a restart keeps every room; another shard count is refused naming the key; `audit
 * verify` checks every chain of the data directory.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodePayload, Flag, HEADER_SIZE, Opcode } from "@kalandra/proto";
import { encodeMlsMessage } from "ts-mls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readHeader } from "../../src/runtime/node/wire.js";
import { shardOf } from "../../src/shards/shardOf.js";
import { type Daemon, runCli, startDaemon } from "../cli/proc.js";
import { createRoom, groupInfoBytes, join as joinGroup, suite } from "../mls/mlsClients.js";
import { errorName } from "./helpers.js";
import { WireMember } from "./mlsWire.js";

const dir = mkdtempSync(join(tmpdir(), "kalandrad-workers-"));
const TOKEN = "w0rker-t0ken";
const env = {
  KALANDRA_SERVER__SHARDS: "2",
  KALANDRA_MONITORING__ADMIN_TOKEN: TOKEN,
  KALANDRA_SERVER__DRAIN_TIMEOUT_MS: "5000",
};

/** The first room ids (from 1000) placed on shard 0 and on shard 1 of two. */
const ROOM_A = (() => {
  for (let r = 1000n; ; r++) if (shardOf(r, 2) === 0) return r;
})();
const ROOM_B = (() => {
  for (let r = 1000n; ; r++) if (shardOf(r, 2) === 1) return r;
})();

let d: Daemon;
let cs: Awaited<ReturnType<typeof suite>>;
let alice: WireMember;
let bob: WireMember;
let mallory: WireMember;
const epochs = new Map<bigint, bigint>();

const certHash = () => Uint8Array.from(Buffer.from(d.ready.cert_sha256, "hex"));
const hubKey = () => Uint8Array.from(Buffer.from(d.ready.hub_key, "hex"));

async function admin(path: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const r = await fetch(`http://127.0.0.1:${d.ready.monitoring_port}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "x-kalandra-operator": "test" },
    body: JSON.stringify(body),
  });
  return { status: r.status, json: await r.json() };
}

const opcodeOf = (f: Uint8Array) => readHeader(f).opcode;

async function sync(m: WireMember, roomId: bigint) {
  const page = await m.request(
    m.frame(Opcode.SYNC_REQUEST, roomId, epochs.get(roomId) ?? 0n, { from: 0n, limit: 50 }),
  );
  expect(opcodeOf(page)).toBe(Opcode.SYNC_PAGE);
  return decodePayload(Opcode.SYNC_PAGE, page.subarray(HEADER_SIZE));
}

beforeAll(async () => {
  cs = await suite();
  alice = await WireMember.create(cs, "alice");
  bob = await WireMember.create(cs, "bob");
  mallory = await WireMember.create(cs, "mallory");
  d = await startDaemon(dir, env);
}, 60_000);

afterAll(async () => {
  if (d.child.exitCode === null) {
    d.child.kill("SIGKILL");
    await d.exit;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("kalandrad with worker-thread shards", () => {
  it("starts one worker shard per configured count, each with its own LMDB directory", () => {
    expect(ROOM_A).not.toBe(ROOM_B);
    expect(d.ready).toMatchObject({ shards: 2, shard_runtime: "worker" });
    expect(JSON.parse(readFileSync(join(dir, "shards.json"), "utf8"))).toEqual({
      runtime: "worker",
      shards: 2,
    });
    expect(existsSync(join(dir, "shard-0"))).toBe(true);
    expect(existsSync(join(dir, "shard-1"))).toBe(true);
  });

  it("rooms on both shards sequence, fan out and sync over real sessions", async () => {
    await alice.connect(d.ready.port, certHash());
    await bob.connect(d.ready.port, certHash());
    const hub = { publicKey: hubKey(), signKey: new Uint8Array(32) };
    for (const roomId of [ROOM_A, ROOM_B]) {
      const mark = bob.conn.frames.length;
      let state = await createRoom(cs, hub, alice.device, roomId);
      const created = await alice.request(
        alice.frame(Opcode.ROOM_CREATE, roomId, 0n, {
          group_info: await groupInfoBytes(cs, state),
        }),
      );
      expect(opcodeOf(created)).toBe(Opcode.ACK);
      const { made: c, response: added } = await alice.add(cs, state, roomId, 0n, bob);
      expect(opcodeOf(added)).toBe(Opcode.ACK);
      expect(readHeader(added).logIndex).toBe(1n);
      state = c.state;
      alice.state = state;
      epochs.set(roomId, 1n);
      // Bob's WELCOME comes over his own session, from the shard's fan-out.
      const welcome = await bob.conn.waitFor(
        (f) => opcodeOf(f) === Opcode.WELCOME && readHeader(f).roomId === roomId,
        15_000,
        mark,
      );
      expect(decodePayload(Opcode.WELCOME, welcome.subarray(HEADER_SIZE)).epoch).toBe(1n);
      bob.state = await joinGroup(cs, bob.device, c.welcome!);

      const markA = alice.conn.frames.length;
      const ack = await bob.request(
        bob.frame(Opcode.APP_MESSAGE, roomId, 1n, {
          generation: 0,
          ciphertext: new TextEncoder().encode(`hello ${roomId}`),
        }),
      );
      expect(opcodeOf(ack)).toBe(Opcode.ACK);
      expect(readHeader(ack).logIndex).toBe(2n);
      const fanned = await alice.conn.waitFor(
        (f) => opcodeOf(f) === Opcode.APP_MESSAGE && readHeader(f).roomId === roomId,
        15_000,
        markA,
      );
      expect(readHeader(fanned).logIndex).toBe(2n);
      expect(readHeader(fanned).flags & Flag.RESPONSE).toBe(0);

      const page = await sync(alice, roomId);
      expect(page.head).toBe(3n);
      expect(page.entries.map((e) => readHeader(e.header).opcode)).toEqual([
        Opcode.ROOM_CREATE,
        Opcode.COMMIT,
        Opcode.APP_MESSAGE,
      ]);
    }
    // Key packages are the hub thread's (its own storage): upload then claim works.
    const up = await mallory.request(
      await (async () => {
        await mallory.connect(d.ready.port, certHash());
        return mallory.frame(Opcode.KP_UPLOAD, 0n, 0n, {
          key_packages: [
            encodeMlsMessage({
              version: "mls10",
              wireformat: "mls_key_package",
              keyPackage: mallory.device.publicPackage,
            }),
          ],
          last_resort: false,
        });
      })(),
    );
    expect(opcodeOf(up)).toBe(Opcode.ACK);
    const claim = await alice.request(alice.frame(Opcode.KP_CLAIM, 0n, 0n, { user_id: "mallory" }));
    expect(opcodeOf(claim)).toBe(Opcode.KP_CLAIMED);
  }, 120_000);

  it("a ban refuses a commit adding the user inside each worker shard", async () => {
    const addMallory = async (roomId: bigint) =>
      (await alice.add(cs, alice.state!, roomId, epochs.get(roomId)!, mallory)).response;
    // alice.state is room B's (the last one made); room A needs its own state: use B only
    // for the room ban, then a hub ban reaches the other shard through the same list.
    const roomBan = await admin("/admin/ban", {
      user: "mallory",
      scope: "room",
      room: String(ROOM_B),
      reason: "test",
    });
    expect(roomBan.status).toBe(200);
    const refused = await addMallory(ROOM_B);
    expect(opcodeOf(refused)).toBe(Opcode.ERROR);
    expect(errorName(refused)).toBe("BANNED");
    // The room ban names room B only; a hub ban is copied to every shard.
    const hubBan = await admin("/admin/ban", { user: "mallory", scope: "hub", reason: "test" });
    expect(hubBan.status).toBe(200);
    const again = await addMallory(ROOM_B);
    expect(errorName(again)).toBe("BANNED");
    // Room B's epoch did not move: Bob's messages still go through.
    const ok = await bob.request(
      bob.frame(Opcode.APP_MESSAGE, ROOM_B, 1n, { generation: 1, ciphertext: new Uint8Array(8) }),
    );
    expect(readHeader(ok).logIndex).toBe(3n);
  }, 60_000);

  it("redacts in the shard owning the room and kicks through the other shard", async () => {
    const markBob = bob.conn.frames.length;
    const red = await admin("/admin/redact", { room: String(ROOM_B), index: "2", reason: "t" });
    expect(red.status).toBe(200);
    await bob.conn.waitFor((f) => opcodeOf(f) === Opcode.REDACTION, 15_000, markBob);
    const page = await sync(alice, ROOM_B);
    expect(page.entries[2]?.payload).toBeNull();
    expect(page.entries[2]?.header).toHaveLength(128);
    expect(page.entries[3]?.payload).not.toBeNull();

    const markAlice = alice.conn.frames.length;
    const kick = await admin("/admin/kick", { user: "bob", room: String(ROOM_A), reason: "t" });
    expect(kick.status).toBe(200);
    const remove = await alice.conn.waitFor(
      (f) => opcodeOf(f) === Opcode.PROPOSAL && readHeader(f).roomId === ROOM_A,
      15_000,
      markAlice,
    );
    expect(readHeader(remove).senderId).toBe(0n);
    const blocked = await alice.request(
      alice.frame(Opcode.APP_MESSAGE, ROOM_A, 1n, { generation: 9, ciphertext: new Uint8Array(4) }),
    );
    expect(errorName(blocked)).toBe("MUST_INCLUDE_PENDING_REMOVALS");
  }, 60_000);

  it("SIGTERM drains and exits 0; a restart keeps every room; another shard count is refused", async () => {
    d.child.kill("SIGTERM");
    expect((await d.exit).code).toBe(0);
    expect(d.lines.some((l) => l.msg === "shutdown complete: storage flushed")).toBe(true);

    const wrong = runCli(["start"], {
      KALANDRA_DATABASE__PATH: dir,
      KALANDRA_SERVER__LISTEN: "127.0.0.1:0",
      KALANDRA_SERVER__WEBSOCKET_LISTEN: "127.0.0.1:0",
      KALANDRA_MONITORING__LISTEN: "",
      KALANDRA_SERVER__SHARDS: "3",
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/server\.shards = 3, but .* holds 2 worker shards/);
    const inProcess = runCli(["start"], {
      KALANDRA_DATABASE__PATH: dir,
      KALANDRA_SERVER__LISTEN: "127.0.0.1:0",
      KALANDRA_SERVER__WEBSOCKET_LISTEN: "127.0.0.1:0",
      KALANDRA_MONITORING__LISTEN: "",
      KALANDRA_SERVER__SHARD_RUNTIME: "in-process",
    });
    expect(inProcess.code).toBe(1);
    expect(inProcess.stdout).toMatch(/server\.shard_runtime = \\?"worker\\?"/);

    // shards = 0 (one per core) reopens the directory with the count it was created with.
    d = await startDaemon(dir, { ...env, KALANDRA_SERVER__SHARDS: "0" });
    expect(d.ready).toMatchObject({ shards: 2, shard_runtime: "worker" });
    await alice.connect(d.ready.port, certHash());
    await bob.connect(d.ready.port, certHash());
    const a = await sync(alice, ROOM_A);
    expect(a.head).toBe(4n); // create, add, message, Remove proposal
    const b = await sync(alice, ROOM_B);
    expect(b.head).toBe(5n); // create, add, message (erased), message, REDACTION
    expect(b.entries.map((e) => e.payload === null)).toEqual([false, false, true, false, false]);
    const next = await bob.request(
      bob.frame(Opcode.APP_MESSAGE, ROOM_B, 1n, { generation: 2, ciphertext: new Uint8Array(8) }),
    );
    expect(readHeader(next).logIndex).toBe(5n);
    // The ban list was replayed from the hub's audit log and copied into the shards again.
    const refused = await alice.add(cs, alice.state!, ROOM_B, 1n, mallory);
    expect(errorName(refused.response)).toBe("BANNED");
    d.child.kill("SIGTERM");
    expect((await d.exit).code).toBe(0);

    // Every audit chain: the hub's (bans, kick, redact) and each shard's (secure_delete).
    const v = runCli(["audit", "verify", "--data", dir]);
    expect(v.code).toBe(0);
    const oks = v.stdout.trim().split("\n");
    expect(oks).toHaveLength(3);
    expect(oks[0]).toMatch(/audit log ok: \d+ records in .*kalandrad-workers-[^/]*$/);
    expect(oks[1]).toMatch(/audit log ok: \d+ records in .*shard-0$/);
    expect(oks[2]).toMatch(/audit log ok: 1 records in .*shard-1$/);
  }, 120_000);
});
