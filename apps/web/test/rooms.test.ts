import { type ClientEvent, createEnvelope, MemoryStore } from "@kalandra/client";
import { describe, expect, it } from "vitest";
import { contentOf, Rooms } from "../src/rooms.js";

const clock = { now: () => 1_700_000_000_000n };
const rng = { bytes: (n: number) => new Uint8Array(n).fill(1) };

function message(logIndex: bigint, userId: string, body: string): ClientEvent {
  const envelope = createEnvelope({ t: "text", body }, { clock, rng });
  return {
    type: "message",
    roomId: 5n,
    logIndex,
    epoch: 1n,
    senderId: 1n,
    userId,
    plaintext: new Uint8Array(),
    envelope,
    own: userId === "alice",
  };
}

describe("Rooms", () => {
  it("feeds each room's conversation from the client's events and reloads it from the store", async () => {
    const store = new MemoryStore();
    const rooms = await Rooms.load(store, "alice");
    // Alice is added to a room where carol was: no "carol joined" for her.
    const added = (epoch: bigint, users: string[]): ClientEvent => ({
      type: "membership",
      roomId: 5n,
      epoch,
      added: users,
      removed: [],
    });
    rooms.apply(added(1n, ["carol", "alice"]));
    expect(rooms.apply({ type: "joined", roomId: 5n, epoch: 1n })).toBe(5n);
    rooms.apply(added(2n, ["bob", "bob"])); // two devices of bob: one line
    rooms.apply(message(3n, "bob", "hello"));
    rooms.apply({ type: "redaction", roomId: 5n, logIndex: 3n });
    rooms.apply({ type: "membership", roomId: 5n, epoch: 3n, added: [], removed: ["bob"] });
    expect(rooms.apply({ type: "epoch", roomId: 5n, epoch: 3n, treeHash: new Uint8Array() })).toBe(
      undefined,
    );
    await rooms.flushed();
    const again = await Rooms.load(store, "alice");
    const log = again.log(5n);
    expect(
      log.entries.map((e) => (e.kind === "notice" ? e.text : `${e.sender}:${e.redacted}`)),
    ).toEqual(["You joined the room", "bob joined the room", "bob:true", "bob left the room"]);
    expect(log.message("3")?.sentAt).toBe(1_700_000_000_000);
  });

  it("maps envelopes to conversation content; unknown ones say what they were", () => {
    const env = (c: Parameters<typeof createEnvelope>[0]) => createEnvelope(c, { clock, rng });
    expect(contentOf(env({ t: "reply", target: 2n, body: "x" }))).toEqual({
      t: "reply",
      target: 2n,
      body: "x",
    });
    expect(contentOf(env({ t: "edit", target: 2n, body: "y" }))).toEqual({
      t: "edit",
      target: 2n,
      body: "y",
    });
    expect(contentOf(env({ t: "reaction", target: 2n, emoji: "👍" }))).toEqual({
      t: "reaction",
      target: 2n,
      emoji: "👍",
    });
    expect(contentOf(undefined)).toEqual({ t: "other", what: "a message in another format" });
    const hash = new Uint8Array(32).fill(0xab);
    const key = new Uint8Array(32).fill(0x01);
    const thumb = { hash: new Uint8Array(32).fill(2), size: 9, mime: "image/png", key };
    expect(
      contentOf(
        env({ t: "attachment", hash, size: 5, mime: "image/png", name: "a.png", key, thumb }),
      ),
    ).toEqual({
      t: "attachment",
      file: {
        hash: "ab".repeat(32),
        key: "01".repeat(32),
        size: 5,
        mime: "image/png",
        name: "a.png",
        thumb: { hash: "02".repeat(32), key: "01".repeat(32), size: 9, mime: "image/png" },
      },
    });
    expect(contentOf(env({ t: "attachment", hash, size: 5, mime: "text/plain" }))).toEqual({
      t: "other",
      what: "an unencrypted attachment",
    });
  });

  it("drops a stored history that is not JSON and keeps the others", async () => {
    const store = new MemoryStore();
    await store.put("app/chat/1", new TextEncoder().encode("{not json"));
    const rooms = await Rooms.load(store, "alice");
    expect(rooms.log(1n).entries).toEqual([]);
  });
});
