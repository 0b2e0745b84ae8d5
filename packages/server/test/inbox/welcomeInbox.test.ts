/**
 * The Welcome inbox through the hub core (issue 12): a Welcome for an offline device is
 * kept, delivered byte for byte when the device authenticates, listed by INVITES_LIST,
 * gone once acknowledged, never delivered after it expired, and erased by the sweep.
 */
import {
  decodePayload,
  encodeFrame,
  encodePayload,
  Flag,
  type Frame,
  FrameHeader,
  Opcode,
} from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { WelcomeInbox } from "../../src/inbox/welcomeInbox.js";
import { readRoomKey } from "../../src/storage/keys.js";
import { MemoryStorage } from "../../src/storage/memoryStorage.js";
import {
  type Client,
  type Env,
  errorName,
  frameOf,
  makeClient,
  makeEnv,
  send,
} from "../hub/harness.js";
import { ROOM, roomWith } from "../sequencer/room.js";

/** Frames sent to one session (not to the device as a whole). */
function toSession(env: Env, c: Client, opcode: number): Frame[] {
  return env.out
    .filter(
      (s) =>
        s.target.kind === "session" &&
        s.target.sessionId === c.sessionId &&
        s.frame.header.opcode === opcode,
    )
    .map((s) => s.frame);
}

const flush = async (env: Env) => {
  await env.hub.inbox.pending(0n);
  await new Promise((r) => setImmediate(r));
};

async function offlineInvitee(limits = {}) {
  const env = await makeEnv({ limits });
  const alice = await makeClient(env, "alice");
  const bob = await makeClient(env, "bob", false); // not connected when added
  const room = await roomWith(["alice", "bob"], { env, members: [alice, bob] });
  const live = env.out.find(
    (s) => s.target.kind === "device" && s.frame.header.opcode === Opcode.WELCOME,
  );
  if (live === undefined) throw new Error("no WELCOME emitted");
  return { env, alice, bob, room, welcome: live.bytes };
}

describe("Welcome inbox", () => {
  it("delivers a Welcome kept for an offline device when it authenticates, byte for byte", async () => {
    const { env, bob, welcome } = await offlineInvitee();
    expect(toSession(env, bob, Opcode.WELCOME)).toHaveLength(0);
    env.hub.attachSession(bob.sessionId, bob.signer.publicKey, "bob");
    await flush(env);
    const got = toSession(env, bob, Opcode.WELCOME);
    expect(got).toHaveLength(1);
    expect(got[0]!.toWire()).toEqual(welcome);
    expect(got[0]!.header.has(Flag.EXTERNAL)).toBe(true);
    // It stays until acknowledged: a second session of the device gets it too.
    env.hub.attachSession(bob.sessionId, bob.signer.publicKey, "bob");
    await flush(env);
    expect(toSession(env, bob, Opcode.WELCOME)).toHaveLength(2);
  });

  it("delivers nothing to a session that went before the inbox was read", async () => {
    const { env, bob } = await offlineInvitee();
    env.hub.attachSession(bob.sessionId, bob.signer.publicKey, "bob");
    env.hub.detachSession(bob.sessionId);
    await flush(env);
    expect(toSession(env, bob, Opcode.WELCOME)).toHaveLength(0);
  });

  it("lists the rooms a device was invited to and forgets one once acknowledged", async () => {
    const { env, bob, welcome } = await offlineInvitee();
    env.hub.attachSession(bob.sessionId, bob.signer.publicKey, "bob");
    const list = await send(env, bob, frameOf(bob, Opcode.INVITES_LIST, 0n, 0n, {}));
    expect(list.opcode).toBe(Opcode.INVITES);
    const invites = decodePayload(Opcode.INVITES, list.frame.payload).invites;
    const h = FrameHeader.view(welcome);
    expect(invites.map((i) => [readRoomKey(i.room_id), i.epoch, i.log_index])).toEqual([
      [ROOM, 1n, h.logIndex],
    ]);
    expect(invites[0]!.expires_at).toBe(env.time.now() / 1000n + 14n * 24n * 3600n);

    const ack = await send(
      env,
      bob,
      frameOf(bob, Opcode.WELCOME_ACK, ROOM, 0n, { log_index: h.logIndex }),
    );
    expect(ack.opcode).toBe(Opcode.ACK);
    // Acknowledging again is harmless (the outcome is the same).
    const again = await send(
      env,
      bob,
      frameOf(bob, Opcode.WELCOME_ACK, ROOM, 0n, { log_index: h.logIndex }),
    );
    expect(again.opcode).toBe(Opcode.ACK);
    const empty = await send(env, bob, frameOf(bob, Opcode.INVITES_LIST, 0n, 0n, {}));
    expect(decodePayload(Opcode.INVITES, empty.frame.payload).invites).toEqual([]);
    const before = toSession(env, bob, Opcode.WELCOME).length;
    env.hub.attachSession(bob.sessionId, bob.signer.publicKey, "bob");
    await flush(env);
    expect(toSession(env, bob, Opcode.WELCOME)).toHaveLength(before);
  });

  it("an acknowledgement only removes the acknowledging device's own Welcome", async () => {
    const { env, alice, bob, welcome } = await offlineInvitee();
    const h = FrameHeader.view(welcome);
    const forged = await send(
      env,
      alice,
      frameOf(alice, Opcode.WELCOME_ACK, ROOM, 0n, { log_index: h.logIndex }),
    );
    expect(forged.opcode).toBe(Opcode.ACK);
    env.hub.attachSession(bob.sessionId, bob.signer.publicKey, "bob");
    await flush(env);
    expect(toSession(env, bob, Opcode.WELCOME)).toHaveLength(1);
  });

  it("never delivers an expired Welcome, and the sweep erases it", async () => {
    const { env, bob } = await offlineInvitee({ welcomeTtlS: 3600 });
    env.time.advance(3600 * 1000);
    env.hub.attachSession(bob.sessionId, bob.signer.publicKey, "bob");
    await flush(env);
    expect(toSession(env, bob, Opcode.WELCOME)).toHaveLength(0);
    expect(env.storage.welcomesFor(bob.senderId, 0n)).toHaveLength(1); // expired, not yet erased
    env.hub.inbox.start(env.time, 60_000);
    env.time.advance(60_000);
    await flush(env);
    expect(env.storage.welcomesFor(bob.senderId, 0n)).toHaveLength(0);
    expect(env.hub.inbox.counts.expired).toBe(1);
    env.hub.inbox.stop();
    expect(env.time.pendingTimers).toBe(0);
  });

  it("answers a malformed request with a typed error", async () => {
    const { env, bob } = await offlineInvitee();
    env.hub.attachSession(bob.sessionId, bob.signer.publicKey, "bob");
    const bytes = encodeFrame(
      {
        opcode: Opcode.INVITES_LIST,
        requestId: 77,
        roomId: 0n,
        senderId: bob.senderId,
        epoch: 0n,
        payload: encodePayload(Opcode.PING, { nonce: 1 }),
      },
      bob.signer,
    );
    expect(errorName(await send(env, bob, bytes))).toBe("BAD_PAYLOAD");
  });
});

describe("WelcomeInbox", () => {
  it("keeps only Welcomes to devices, counts drops over the cap and failed writes", async () => {
    const storage = new MemoryStorage();
    const clock = { now: () => 5_000n };
    const inbox = new WelcomeInbox(storage, clock, { welcomeTtlS: 10, welcomesPerDevice: 1 });
    const seen: number[] = [];
    const sink = inbox.capture((_t, f) => seen.push(f.length));
    const { env, welcome } = await offlineInvitee();
    void env;
    sink({ kind: "device", senderId: 9n }, welcome);
    sink({ kind: "session", sessionId: "x" }, welcome); // an answer to a session: not kept
    sink({ kind: "device", senderId: 9n }, new Uint8Array(3)); // too short to be a frame
    await inbox.pending(9n);
    expect(seen).toHaveLength(3);
    expect((await inbox.pending(9n)).map((w) => w.expiresAt)).toEqual([15n]);
    const other = new Uint8Array(welcome);
    other[20] = (other[20] ?? 0) ^ 1; // another room_id (header bytes 12..28)
    inbox.keep(9n, other);
    await inbox.pending(9n);
    expect(inbox.counts).toMatchObject({ kept: 2, dropped: 1, failed: 0 });
    await storage.close();
    inbox.keep(9n, welcome);
    await expect(inbox.pending(9n)).rejects.toMatchObject({ code: "CLOSED" });
    expect(inbox.counts.failed).toBe(1);
  });
});
