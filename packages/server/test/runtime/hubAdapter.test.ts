/**
 * The HubCore wiring: a Daemon running the real hub core answers through the session
 * layer, and the adapter's own duties (sink routing, max rooms, max members, metrics).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  decodeErrorPayload,
  encodePayload,
  errorFrame,
  Flag,
  hubFrame,
  Opcode,
  responseFrame,
} from "@kalandra/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/schema.js";
import { Daemon } from "../../src/runtime/node/daemon.js";
import { HubAdapter } from "../../src/runtime/node/hubAdapter.js";
import { createLogger } from "../../src/runtime/node/logger.js";
import { createMetrics } from "../../src/runtime/node/metrics.js";
import { hubKeySigner, readHeader } from "../../src/runtime/node/wire.js";
import {
  authed,
  type Device,
  device,
  errorName,
  type FrameFields,
  hubKey,
  isOp,
  rawFrame,
} from "./helpers.js";

function config(dir: string, extra: Record<string, unknown> = {}): Config {
  const r = buildConfig({
    server: { listen: "127.0.0.1:0", log_level: "fatal" },
    database: { path: dir, sync: "none" },
    monitoring: { listen: "" },
    ...extra,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

describe("kalandrad with the hub core", () => {
  let d: Daemon;
  beforeAll(async () => {
    d = await Daemon.start({
      config: config(mkdtempSync(join(tmpdir(), "kalandra-hubcore-"))),
      log: createLogger("fatal"),
    });
  });
  afterAll(async () => {
    await d.shutdown("test");
  });

  it("routes frames to HubCore and its answers back to the session", async () => {
    const dev = device();
    const c = await authed(d.port, d.certHash, dev);
    // A ROOM_CREATE whose GroupInfo is not one: the core refuses it with a typed error.
    await c.send(
      rawFrame(
        dev,
        { opcode: Opcode.ROOM_CREATE, requestId: 10, roomId: 99n },
        encodePayload(Opcode.ROOM_CREATE, { group_info: new Uint8Array(40) }),
      ),
    );
    const err = await c.waitFor((f) => isOp(Opcode.ERROR)(f) && readHeader(f).requestId === 10);
    expect(readHeader(err).roomId).toBe(99n);
    expect(errorName(err)).toMatch(/INVALID|BAD/);
    // A key-package claim for a user without packages: answered by the core, not the runtime.
    await c.send(
      rawFrame(
        dev,
        { opcode: Opcode.KP_CLAIM, requestId: 11 },
        encodePayload(Opcode.KP_CLAIM, { user_id: "nobody" }),
      ),
    );
    const claim = await c.waitFor((f) => readHeader(f).requestId === 11);
    expect(readHeader(claim).flags & Flag.RESPONSE).toBe(Flag.RESPONSE);
    expect(d.ready).toBe(true);
    c.close();
  });
});

/** The error name carried by the frame delivered at `at`. */
function deliveredError(list: { frame: Uint8Array }[], at: number): string {
  const x = list.at(at);
  if (!x) throw new Error("nothing delivered");
  return decodeErrorPayload(x.frame.subarray(128)).name;
}

/** `dev`, on session `session`, hands a signed request straight to the adapter. */
function request(
  a: HubAdapter,
  session: string,
  dev: Device,
  fields: FrameFields,
  payload: Uint8Array,
): Promise<void> {
  return a.handleFrame(session, dev.senderId, rawFrame(dev, fields, payload));
}

describe("HubAdapter", () => {
  const hub = hubKey();
  function adapter(maxRooms: number, maxMembers: number, rooms = 0) {
    const delivered: { to: string; frame: Uint8Array }[] = [];
    const devices = new Map<bigint, string[]>([
      [1n, ["s1"]],
      [2n, ["s2", "s3"]],
    ]);
    const handled: Uint8Array[] = [];
    const metrics = createMetrics({ defaultMetrics: false });
    const a = new HubAdapter(
      () => ({
        deliver: (id, frame) => {
          delivered.push({ to: id, frame });
          return true;
        },
        deliverToDevice: (sid, frame) => {
          for (const id of devices.get(sid) ?? []) delivered.push({ to: id, frame });
          return devices.get(sid)?.length ?? 0;
        },
      }),
      hub,
      { maxRooms, maxMembersPerRoom: maxMembers },
      metrics,
      rooms,
    );
    a.core = {
      attachSession: () => undefined,
      detachSession: () => undefined,
      handleFrame: async (_s: string, _id: bigint, bytes: Uint8Array) => {
        handled.push(bytes);
      },
      close: async () => undefined,
    } as unknown as HubAdapter["core"];
    return { a, delivered, handled, metrics };
  }

  it("refuses ROOM_CREATE beyond max_rooms with TOO_MANY_ROOMS", async () => {
    const { a, delivered, handled } = adapter(1, 10, 1);
    const dev = device();
    await request(
      a,
      "s9",
      dev,
      { opcode: Opcode.ROOM_CREATE, requestId: 3 },
      encodePayload(Opcode.ROOM_CREATE, { group_info: new Uint8Array(4) }),
    );
    expect(handled).toEqual([]);
    expect(delivered[0]?.to).toBe("s9");
    expect(deliveredError(delivered, 0)).toBe("TOO_MANY_ROOMS");
  });

  it("counts members from fan-out and refuses growth beyond max_members_per_room", async () => {
    const { a, delivered, handled, metrics } = adapter(10, 2);
    const f = hubFrame(hubKeySigner(hub), Opcode.APP_MESSAGE, 5n, 0n, new Uint8Array([0xa0]), 0);
    a.route({ kind: "members", roomId: 5n, senderIds: [1n, 2n] }, f);
    expect(delivered.map((x) => x.to)).toEqual(["s1", "s2", "s3"]);
    expect((await metrics.roomMembers.get()).values[0]?.value).toBe(2);
    const dev = device();
    await request(
      a,
      "s1",
      dev,
      { opcode: Opcode.EXTERNAL_COMMIT, requestId: 4, roomId: 5n },
      encodePayload(Opcode.EXTERNAL_COMMIT, {
        commit: new Uint8Array(2),
        group_info: new Uint8Array(2),
      }),
    );
    expect(deliveredError(delivered, -1)).toBe("ROOM_FULL");
    await request(
      a,
      "s1",
      dev,
      { opcode: Opcode.COMMIT, requestId: 5, roomId: 5n },
      encodePayload(Opcode.COMMIT, {
        commit: new Uint8Array(2),
        group_info: new Uint8Array(2),
        welcome: new Uint8Array(2),
        welcome_recipients: [9n],
      }),
    );
    expect(deliveredError(delivered, -1)).toBe("ROOM_FULL");
    // A commit adding nobody passes to the core.
    await request(
      a,
      "s1",
      dev,
      { opcode: Opcode.COMMIT, requestId: 6, roomId: 5n },
      encodePayload(Opcode.COMMIT, { commit: new Uint8Array(2), group_info: new Uint8Array(2) }),
    );
    expect(handled.length).toBe(1);
    a.reconfigure({ maxRooms: 10, maxMembersPerRoom: 3 });
    await request(
      a,
      "s1",
      dev,
      { opcode: Opcode.EXTERNAL_COMMIT, requestId: 7, roomId: 5n },
      encodePayload(Opcode.EXTERNAL_COMMIT, {
        commit: new Uint8Array(2),
        group_info: new Uint8Array(2),
      }),
    );
    expect(handled.length).toBe(2);
    await a.drain(100);
    await a.close();
  });

  it("measures request → response latency and counts created rooms", async () => {
    const { a, metrics } = adapter(10, 10);
    const dev = device();
    await request(
      a,
      "s1",
      dev,
      { opcode: Opcode.ROOM_CREATE, requestId: 8, roomId: 7n },
      encodePayload(Opcode.ROOM_CREATE, { group_info: new Uint8Array(4) }),
    );
    await request(
      a,
      "s1",
      dev,
      { opcode: Opcode.COMMIT, requestId: 9, roomId: 7n },
      encodePayload(Opcode.COMMIT, { commit: new Uint8Array(2), group_info: new Uint8Array(2) }),
    );
    a.route(
      { kind: "session", sessionId: "s1" },
      responseFrame(
        hubKeySigner(hub),
        { requestId: 8, roomId: 7n },
        Opcode.ACK,
        new Uint8Array([0xa0]),
      ),
    );
    a.route(
      { kind: "session", sessionId: "s1" },
      errorFrame(
        hubKeySigner(hub),
        { requestId: 9, roomId: 7n },
        { code: "STALE_EPOCH", message: "late" },
      ),
    );
    a.route(
      { kind: "device", senderId: 2n },
      hubFrame(hubKeySigner(hub), Opcode.WELCOME, 0n, 0n, new Uint8Array([0xa0]), 0),
    );
    expect((await metrics.rooms.get()).values[0]?.value).toBe(1);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/kalandra_storage_append_seconds_count 1/);
    expect(text).toMatch(/kalandra_commit_duration_seconds_count 1/);
  });
});
