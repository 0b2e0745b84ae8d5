import { describe, expect, it } from "vitest";
import { text, World, waitEpoch, waitFor } from "../support/world.js";

describe("client lifecycle against the in-memory relay", () => {
  it("three members: create, add, exchange messages, agree on the tree hash", async () => {
    const w = await World.create("three");
    const [a, b, c] = await Promise.all(["alice", "bob", "carol"].map((u) => w.client(u)));
    if (!a || !b || !c) throw new Error("clients");
    const room = await a.client.createRoom();
    expect(a.client.room(room)?.phase).toEqual({ kind: "synchronized", epoch: 0n });
    await b.client.expectWelcome(room);
    expect(b.client.room(room)?.phase).toEqual({ kind: "pendingWelcome" });
    await a.client.addMembers(room, ["bob", "carol"]);
    await waitEpoch([a, b, c], room, 1n);
    expect(b.client.room(room)?.treeHash).toEqual(a.client.room(room)?.treeHash);
    expect(c.client.room(room)?.members).toEqual(["alice", "bob", "carol"]);
    expect(w.relay.treeHash(room)).toEqual(a.client.room(room)?.treeHash);

    await a.client.send(room, text("hi from alice"));
    await b.client.send(room, text("hi from bob"));
    await c.client.send(room, text("hi from carol"));
    const all = ["hi from alice", "hi from bob", "hi from carol"];
    await waitFor(
      () => [a, b, c].every((x) => x.texts(room).length === 3),
      "3 messages everywhere",
    );
    for (const x of [a, b, c]) expect(x.texts(room)).toEqual(all);
  });
});

describe("envelopes and notification keys", () => {
  it("sends envelopes and exports keys a push decryptor opens the next message with", async () => {
    const { NotificationDecryptor } = await import("../../src/notify/index.js");
    const { parseFrame, payloadOf, fieldBytes, fieldNumber } = await import(
      "../../src/state/wire.js"
    );
    const w = await World.create("envelope");
    const [a, b] = await Promise.all(["alice", "bob"].map((u) => w.client(u)));
    if (!a || !b) throw new Error("clients");
    const room = await a.client.createRoom();
    await a.client.addMembers(room, ["bob"]);
    await waitEpoch([a, b], room, 1n);
    await b.client.send(room, { t: "text", body: "hello alice" });
    await waitFor(
      () => a.events.some((e) => e.type === "message" && e.envelope !== undefined),
      "envelope",
    );
    const got = a.events.find((e) => e.type === "message");
    expect(got?.type === "message" && got.envelope?.t === "text" && got.envelope.body).toBe(
      "hello alice",
    );
    expect(got?.type === "message" && got.userId).toBe("bob");

    const blob = await a.client.exportNotificationKeys();
    const push = NotificationDecryptor.fromBlob(blob);
    const idx = await b.client.send(room, { t: "text", body: "pushed" });
    const stored = w.relay.rooms.get(room)?.log[Number(idx)];
    if (stored === undefined) throw new Error("not in the log");
    const f = parseFrame(stored);
    const p = payloadOf(f);
    const env = push.decrypt({
      roomId: room,
      epoch: f.header.epoch,
      senderLeaf: 1,
      generation: fieldNumber(p, "generation"),
      ciphertext: fieldBytes(p, "ciphertext"),
    });
    expect(env.t === "text" && env.body).toBe("pushed");
  });
});

describe("hub variants", () => {
  it("works when the hub does not echo frames to their sender (ACK only)", async () => {
    const w = await World.create("noecho", { echo: false });
    const [a, b] = await Promise.all(["alice", "bob"].map((u) => w.client(u)));
    if (!a || !b) throw new Error("clients");
    const room = await a.client.createRoom();
    await a.client.addMembers(room, ["bob"]);
    await waitEpoch([a, b], room, 1n);
    await b.client.update(room);
    await waitEpoch([a, b], room, 2n);
    await a.client.send(room, text("one"));
    await b.client.send(room, text("two"));
    await waitFor(() => a.texts(room).length === 2 && b.texts(room).length === 2, "both");
    expect(a.texts(room)).toEqual(["one", "two"]);
    expect(b.texts(room)).toEqual(["one", "two"]);
    expect(a.events.filter((e) => e.type === "message" && e.own)).toHaveLength(1);
  });

  it("a user with two devices is added and removed as a whole", async () => {
    const w = await World.create("devices");
    const a = await w.client("alice");
    const b1 = await w.client("bob");
    const b2 = await w.client("bob");
    expect(b1.client.senderId).not.toBe(b2.client.senderId);
    const room = await a.client.createRoom();
    await a.client.addMembers(room, ["bob"]);
    await waitEpoch([a, b1, b2], room, 1n);
    expect(a.client.room(room)?.members).toEqual(["alice", "bob", "bob"]);
    await b1.client.send(room, text("from phone"));
    await waitFor(
      () => b2.texts(room).includes("from phone") && a.texts(room).includes("from phone"),
      "phone",
    );
    await a.client.removeMembers(room, ["bob"]);
    await waitFor(
      () => [b1, b2].every((x) => x.client.room(room)?.phase.kind === "removed"),
      "both bob devices removed",
    );
    expect(a.client.room(room)?.members).toEqual(["alice"]);
  });
});

describe("a transport that authenticates the session itself", () => {
  it("connect() skips HELLO/AUTH and the client works over it", async () => {
    const { KalandraClient } = await import("../../src/client.js");
    const { suite, seededRng } = await import("../support/env.js");
    const w = await World.create("transport-auth");
    const [a, b] = await Promise.all(["alice", "bob"].map((u) => w.client(u)));
    if (!a || !b) throw new Error("clients");
    const room = await a.client.createRoom();
    await a.client.addMembers(room, ["bob"]);
    await waitEpoch([a, b], room, 1n);
    // bob's connection is already authenticated (as if by the transport): a new client core
    // over it, from bob's store, must not run the handshake again.
    b.client.close();
    b.conn.up = true;
    const sent: number[] = [];
    const conn = b.conn;
    const wrapped = {
      send: (f: Uint8Array) => {
        sent.push((f[6] ?? 0) * 256 + (f[7] ?? 0));
        conn.send(f);
      },
      onFrame: (cb: (f: Uint8Array) => void) => conn.onFrame(cb),
      close: () => conn.close(),
    };
    const b2 = await KalandraClient.open({
      connection: wrapped,
      clock: w.clock,
      rng: seededRng("b2"),
      timers: w.timers,
      store: b.store,
      hubPublicKey: w.relay.hubPublicKey,
      cs: await suite("b2"),
      userId: "bob",
      transportAuthenticates: true,
    });
    const texts: string[] = [];
    b2.on((e) => {
      if (e.type === "message") texts.push(new TextDecoder().decode(e.plaintext));
    });
    await b2.connect();
    expect(sent).not.toContain(0x0001); // no HELLO
    await a.client.send(room, text("over the transport's session"));
    await b2.send(room, text("and back"));
    await waitFor(() => texts.length === 2 && a.texts(room).includes("and back"), "both ways");
    b2.close();
  });
});
