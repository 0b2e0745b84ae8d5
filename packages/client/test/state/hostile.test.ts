import { Flag, Opcode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { generateDevice } from "../../src/state/device.js";
import { RequestTracker } from "../../src/state/requests.js";
import { buildFrame, parseFrame } from "../../src/state/wire.js";
import { ManualTime, seededRng } from "../support/env.js";
import type { TestClient } from "../support/world.js";
import { text, World, waitEpoch, waitFor } from "../support/world.js";

describe("frames that fail a check", () => {
  it("a forged message in the log is skipped and reported; order goes on", async () => {
    const w = await World.create("forged");
    const cs = await Promise.all(["alice", "bob", "carol"].map((u) => w.client(u)));
    const [a, b, c] = cs as [TestClient, TestClient, TestClient];
    const room = await a.client.createRoom();
    await a.client.addMembers(room, ["bob", "carol"]);
    await waitEpoch(cs, room, 1n);
    const mallory = generateDevice("mallory", seededRng("mallory"));
    const frame = (senderId: bigint, opcode: number, payload: Record<string, unknown>) =>
      buildFrame(
        { opcode, requestId: 9, roomId: room, senderId, epoch: 1n, payload },
        mallory.signer,
      );
    // Claims to be bob, signed by another key.
    const forgedIdx = w.relay.inject(
      room,
      frame(b.client.senderId, Opcode.APP_MESSAGE, {
        generation: 0,
        ciphertext: new Uint8Array(40),
      }),
    );
    // Not a member at all.
    const strangerIdx = w.relay.inject(
      room,
      frame(mallory.senderId, Opcode.APP_MESSAGE, {
        generation: 0,
        ciphertext: new Uint8Array(40),
      }),
    );
    // A commit for an old epoch and a proposal that is not MLS.
    w.relay.inject(
      room,
      buildFrame(
        {
          opcode: Opcode.COMMIT,
          requestId: 1,
          roomId: room,
          senderId: mallory.senderId,
          epoch: 0n,
          payload: { commit: new Uint8Array(3), group_info: new Uint8Array(3) },
        },
        mallory.signer,
      ),
    );
    w.relay.inject(
      room,
      buildFrame(
        {
          flags: Flag.EXTERNAL,
          opcode: Opcode.PROPOSAL,
          requestId: 1,
          roomId: room,
          senderId: 0n,
          epoch: 1n,
          payload: { message: new Uint8Array(5) },
        },
        mallory.signer,
      ),
    );
    await b.client.send(room, text("real"));
    await waitFor(
      () => a.texts(room).includes("real") && c.texts(room).includes("real"),
      "real message",
    );
    for (const x of [a, c]) {
      const rejected = x.events
        .filter((e) => e.type === "rejected")
        .map((e) => (e.type === "rejected" ? e.logIndex : -1n));
      expect(rejected).toContain(forgedIdx);
      expect(rejected).toContain(strangerIdx);
      expect(rejected.length).toBe(4);
      expect(x.texts(room)).toEqual(["real"]);
    }
    expect(a.client.room(room)?.epoch).toBe(1n);
    expect(a.client.room(room)?.nextLogIndex).toBe(
      BigInt(w.relay.rooms.get(room)?.log.length ?? -1),
    );
  });
});

describe("RequestTracker", () => {
  it("resends with the same bytes until answered, not while offline, and gives up", async () => {
    const timers = new ManualTime();
    const sent: Uint8Array[] = [];
    const t = new RequestTracker((b) => sent.push(b), timers, { retryMs: 100, maxAttempts: 3 });
    const dev = generateDevice("x", seededRng("rt"));
    const req = buildFrame(
      {
        opcode: Opcode.PING,
        requestId: 5,
        roomId: 0n,
        senderId: dev.senderId,
        epoch: 0n,
        payload: { nonce: 1 },
      },
      dev.signer,
    );
    const answered = t.request(5, req);
    timers.advance(100);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toBe(req);
    t.setOnline(false);
    timers.advance(1000);
    expect(sent).toHaveLength(2);
    t.setOnline(true);
    expect(sent).toHaveLength(3);
    const pong = parseFrame(
      buildFrame(
        {
          flags: Flag.RESPONSE,
          opcode: Opcode.PONG,
          requestId: 5,
          roomId: 0n,
          senderId: 0n,
          epoch: 0n,
          payload: { nonce: 1 },
        },
        dev.signer,
      ),
    );
    expect(t.resolve(pong)).toBe(true);
    expect((await answered).header.opcode).toBe(Opcode.PONG);
    expect(t.resolve(pong)).toBe(false);

    const lost = t.request(6, req);
    timers.advance(100);
    timers.advance(100);
    timers.advance(100);
    await expect(lost).rejects.toThrow(/no answer/);
    const closed = t.request(7, req);
    t.failAll(new Error("closed"));
    await expect(closed).rejects.toThrow("closed");
    expect(t.size).toBe(0);
  });
});

describe("a commit nobody can process", () => {
  it("members that cannot follow the log rejoin by external commit and agree again", async () => {
    const w = await World.create("diverge");
    const cs = await Promise.all(["alice", "bob", "carol"].map((u) => w.client(u)));
    const [a, b, c] = cs as [TestClient, TestClient, TestClient];
    const room = await a.client.createRoom();
    await a.client.addMembers(room, ["bob", "carol"]);
    await waitEpoch(cs, room, 1n);
    // Bob's device signs a COMMIT whose MLS content is garbage; a faulty hub sequences it.
    w.relay.inject(
      room,
      buildFrame(
        {
          opcode: Opcode.COMMIT,
          requestId: 77,
          roomId: room,
          senderId: b.client.senderId,
          epoch: 1n,
          payload: { commit: new Uint8Array([0, 1, 0, 2]), group_info: new Uint8Array(4) },
        },
        b.client.signer,
      ),
    );
    await waitFor(
      () =>
        cs.every((x) =>
          x.events.some((e) => e.type === "error" && /diverged/.test(e.error.message)),
        ),
      "everyone noticed",
    );
    await waitFor(
      () =>
        cs.every(
          (x) =>
            x.client.room(room)?.phase.kind === "synchronized" &&
            x.client.room(room)?.nextLogIndex ===
              BigInt(w.relay.rooms.get(room)?.log.length ?? -1) &&
            (w.relay.rooms.get(room)?.members.size ?? 0) === 3,
        ),
      "everyone rejoined",
    );
    const hub = Buffer.from(w.relay.treeHash(room) ?? []).toString("hex");
    for (const x of cs)
      expect(Buffer.from(x.client.room(room)?.treeHash ?? []).toString("hex")).toBe(hub);
    await c.client.send(room, text("after the fork"));
    await waitFor(
      () => a.texts(room).includes("after the fork") && b.texts(room).includes("after the fork"),
      "msg",
    );
  });
});
