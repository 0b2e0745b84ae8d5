/**
 * Presence and typing in the client core (state/presence.ts) over the in-memory relay:
 * signals reach the other members as events, lapse when not renewed (virtual time), are
 * renewed sparingly, and are believed only from a member signing with its leaf key.
 */
import {
  createDeviceSigner,
  encodeFrame,
  encodePayload,
  FrameHeader,
  Opcode,
} from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import type { ClientEvent } from "../../src/state/events.js";
import { DEFAULT_PRESENCE_OPTIONS } from "../../src/state/presence.js";
import { type TestClient, World, waitEpoch, waitFor } from "../support/world.js";

const { typingTtlMs, presenceTtlMs } = DEFAULT_PRESENCE_OPTIONS;

type Signal = Extract<ClientEvent, { type: "presence" | "typing" }>;
const signals = (c: TestClient): Signal[] =>
  c.events.filter((e): e is Signal => e.type === "presence" || e.type === "typing");

/** Opcodes of the frames a client sends (observed at its connection). */
function sentOpcodes(c: TestClient): number[] {
  const out: number[] = [];
  const send = c.conn.send.bind(c.conn);
  c.conn.send = (frame) => {
    const { opcode } = FrameHeader.view(frame);
    // Keep-alive PINGs go out after 45 s of quiet (hubLink.ts): not what these tests count.
    if (opcode !== Opcode.PING) out.push(opcode);
    send(frame);
  };
  return out;
}

/** Alice and Bob in one room; their presence timers run on the world's virtual clock. */
async function pair(seed: string) {
  const w = await World.create(seed);
  const virtual = { timers: w.clock };
  const a = await w.client("alice", undefined, virtual);
  const b = await w.client("bob", undefined, virtual);
  const room = await a.client.createRoom();
  await b.client.expectWelcome(room);
  await a.client.addMembers(room, ["bob"]);
  await waitEpoch([a, b], room, 1n);
  return { w, a, b, room };
}

describe("presence and typing", () => {
  it("typing reaches the other member, is renewed at most every third of its lifetime, and lapses", async () => {
    const { w, a, b, room } = await pair("typing");
    const sent = sentOpcodes(a);
    a.client.setTyping(room, true);
    await waitFor(() => signals(b).length === 1, "bob sees alice typing");
    expect(signals(b)[0]).toEqual({
      type: "typing",
      roomId: room,
      senderId: a.client.senderId,
      userId: "alice",
      typing: true,
    });
    const started = w.clock.now();
    expect(b.client.presence(room).typing).toEqual([
      { userId: "alice", senderId: a.client.senderId, expiresAt: started + BigInt(typingTtlMs) },
    ]);
    // Keystrokes within a third of the lifetime send nothing more; the next one renews.
    a.client.setTyping(room, true);
    w.clock.advance(typingTtlMs / 3 - 1);
    a.client.setTyping(room, true);
    expect(sent).toEqual([Opcode.TYPING]);
    w.clock.advance(1);
    a.client.setTyping(room, true);
    expect(sent).toEqual([Opcode.TYPING, Opcode.TYPING]);
    const renewedAt = w.clock.now();
    await waitFor(
      () => b.client.presence(room).typing[0]?.expiresAt === renewedAt + BigInt(typingTtlMs),
      "bob's view renewed",
    );
    expect(signals(b)).toHaveLength(1); // a renewal is no new event
    // Not renewed: it lapses on Bob's side exactly after its lifetime.
    w.clock.advance(typingTtlMs - 1);
    expect(b.client.presence(room).typing).toHaveLength(1);
    w.clock.advance(1);
    expect(b.client.presence(room).typing).toEqual([]);
    expect(signals(b).at(-1)).toMatchObject({ type: "typing", userId: "alice", typing: false });
    // Own signals never come back as events.
    expect(signals(a)).toEqual([]);
  });

  it("an explicit stop ends typing at once; a stop without a start sends nothing", async () => {
    const { a, b, room } = await pair("stop");
    const sent = sentOpcodes(b);
    b.client.setTyping(room, false);
    expect(sent).toEqual([]);
    b.client.setTyping(room, true);
    b.client.setTyping(room, false);
    expect(sent).toEqual([Opcode.TYPING, Opcode.TYPING]);
    await waitFor(() => signals(a).length === 2, "alice sees bob start and stop");
    expect(signals(a).map((e) => e.type === "typing" && e.typing)).toEqual([true, false]);
    expect(a.client.presence(room).typing).toEqual([]);
  });

  it("a presence status is announced in every room, renewed while set, and lapses once unset", async () => {
    const { w, a, b, room } = await pair("presence");
    const sent = sentOpcodes(a);
    a.client.setPresence("online");
    await waitFor(() => signals(b).length === 1, "bob sees alice online");
    expect(signals(b)[0]).toMatchObject({ type: "presence", userId: "alice", status: "online" });
    // Renewed every half of the lifetime: Bob's view never lapses while it is set.
    for (let i = 1; i <= 3; i++) {
      w.clock.advance(presenceTtlMs / 2);
      const at = w.clock.now();
      await waitFor(
        () => b.client.presence(room).present[0]?.expiresAt === at + BigInt(presenceTtlMs),
        `bob's view renewed (${i})`,
      );
    }
    expect(sent).toEqual([Opcode.PRESENCE, Opcode.PRESENCE, Opcode.PRESENCE, Opcode.PRESENCE]);
    expect(signals(b)).toHaveLength(1); // renewals are no new events
    expect(b.client.presence(room).present).toMatchObject([{ userId: "alice", status: "online" }]);
    a.client.setPresence("away");
    await waitFor(() => signals(b).length === 2, "bob sees alice away");
    expect(signals(b)[1]).toMatchObject({ type: "presence", status: "away" });
    // Unset: no renewal goes out, and Bob's view lapses after its lifetime.
    a.client.setPresence(undefined);
    const unsetAt = sent.length;
    const awayAt = w.clock.now();
    await waitFor(
      () => b.client.presence(room).present[0]?.expiresAt === awayAt + BigInt(presenceTtlMs),
      "bob holds 'away'",
    );
    w.clock.advance(presenceTtlMs);
    expect(sent).toHaveLength(unsetAt);
    expect(b.client.presence(room).present).toEqual([]);
    expect(signals(b)[2]).toMatchObject({ type: "presence", userId: "alice", status: undefined });
  });

  it("refuses a status over 64 bytes and typing in a room it is not in", async () => {
    const { a, room } = await pair("limits");
    expect(() => a.client.setPresence("é".repeat(33))).toThrow("status_too_long");
    expect(() => a.client.setTyping(room + 1n, true)).toThrow("unknown_room");
    a.client.setPresence("x".repeat(64)); // the limit itself is fine
  });

  it("believes only members signing with their leaf key", async () => {
    const { a, b, room } = await pair("forged");
    const frame = (
      signer: ReturnType<typeof createDeviceSigner>,
      senderId: bigint,
      status: string,
    ) =>
      encodeFrame(
        {
          opcode: Opcode.PRESENCE,
          requestId: 7,
          roomId: room,
          senderId,
          epoch: 1n,
          payload: encodePayload(Opcode.PRESENCE, { status }),
        },
        signer,
      );
    const stranger = createDeviceSigner(new Uint8Array(32).fill(9));
    // Alice's sender_id with another key, a non-member, then Alice's own signed frame.
    b.conn.deliver(frame(stranger, a.client.senderId, "forged"));
    b.conn.deliver(frame(stranger, 12345n, "outsider"));
    b.conn.deliver(frame(a.client.signer, a.client.senderId, "genuine"));
    await waitFor(() => signals(b).length > 0, "bob takes alice's genuine presence");
    expect(signals(b)).toEqual([
      {
        type: "presence",
        roomId: room,
        senderId: a.client.senderId,
        userId: "alice",
        status: "genuine",
      },
    ]);
  });
});
