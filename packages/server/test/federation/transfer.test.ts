/**
 * Moving a room's authority between real hubs (DESIGN §11, issue 18;
 * src/federation/roomTransfers.ts): three hub cores, each with its own storage and real MLS
 * devices, linked in memory (twoHubs.ts).
 */
import { decodePayload, FrameHeader, Opcode } from "@kalandra/proto";
import { encodeMlsMessage } from "ts-mls";
import { describe, expect, it } from "vitest";
import {
  type Answer,
  answerTo,
  type Client,
  type Env,
  frameOf,
  makeClient,
} from "../hub/harness.js";
import { commit, createRoom, groupInfoBytes, join } from "../mls/mlsClients.js";
import { appMessage } from "../sequencer/room.js";
import { federation, type Net, sendVia } from "./twoHubs.js";

const A = "a.example";
const B = "b.example";
const C = "c.example";
const ROOM = 0x0a0b_0c0d_0e0f_1011_1213_1415_1617_1820n;

interface Room {
  net: Net;
  hubs: Record<string, Env>;
  alice: Client;
  bob: Client;
  carol: Client;
}

async function uploadKeyPackage(net: Net, env: Env, c: Client): Promise<Uint8Array> {
  const kp = encodeMlsMessage({
    version: "mls10",
    wireformat: "mls_key_package",
    keyPackage: c.device.publicPackage,
  });
  const up = await sendVia(
    net,
    env,
    c,
    frameOf(c, Opcode.KP_UPLOAD, 0n, 0n, { key_packages: [kp], last_resort: false }),
  );
  expect(up.opcode).toBe(Opcode.ACK);
  return kp;
}

/** alice@a creates ROOM on A and adds bob@b and carol@c (claimed through their hubs). */
async function threeHubRoom(): Promise<Room> {
  const net = await federation([A, B, C]);
  const [a, b, c] = [net.hub(A), net.hub(B), net.hub(C)];
  const alice = await makeClient(a, `alice@${A}`);
  const bob = await makeClient(b, `bob@${B}`);
  const carol = await makeClient(c, `carol@${C}`);
  await uploadKeyPackage(net, b, bob);
  await uploadKeyPackage(net, c, carol);
  alice.state = await createRoom(a.cs, a.hubMls, alice.device, ROOM);
  const created = await sendVia(
    net,
    a,
    alice,
    frameOf(alice, Opcode.ROOM_CREATE, ROOM, 0n, {
      group_info: await groupInfoBytes(a.cs, alice.state),
      join_rule: "invite",
    }),
  );
  expect(created.opcode).toBe(Opcode.ACK);
  for (const user of [`bob@${B}`, `carol@${C}`]) {
    const claimed = await sendVia(
      net,
      a,
      alice,
      frameOf(alice, Opcode.KP_CLAIM, 0n, 0n, { user_id: user }),
    );
    expect(claimed.opcode).toBe(Opcode.KP_CLAIMED);
  }
  const made = await commit(a.cs, alice.state, [
    { proposalType: "add", add: { keyPackage: bob.device.publicPackage } },
    { proposalType: "add", add: { keyPackage: carol.device.publicPackage } },
  ]);
  const added = await sendVia(
    net,
    a,
    alice,
    frameOf(alice, Opcode.COMMIT, ROOM, 0n, {
      commit: made.commit,
      group_info: made.groupInfo,
      welcome: encodeMlsMessage(made.welcome!),
      welcome_recipients: [bob.senderId, carol.senderId],
    }),
  );
  expect(added.opcode).toBe(Opcode.ACK);
  alice.state = made.state;
  bob.state = await join(b.cs, bob.device, made.welcome!);
  carol.state = await join(c.cs, carol.device, made.welcome!);
  return { net, hubs: { [A]: a, [B]: b, [C]: c }, alice, bob, carol };
}

function headers(env: Env): string[] {
  return env.storage.readRange(ROOM, 0n, 1000).map((f) => Buffer.from(f.header).toString("hex"));
}

/** Sends `bytes` from `c` through its home hub until it is not TRANSFERRING (same request id). */
async function sendRetrying(net: Net, env: Env, c: Client, bytes: Uint8Array): Promise<Answer> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const a = await sendVia(net, env, c, bytes);
    if (a.error?.name !== "TRANSFERRING") return a;
    const hint = decodePayload(Opcode.ERROR, a.frame.payload).retry_after_ms;
    expect(hint).toBe(1000n);
    net.time.advance(1000);
    for (const e of net.hubs.values()) e.hub.federation!.tick();
  }
  throw new Error("still TRANSFERRING");
}

describe("planned transfer of a room's authority between real hubs", () => {
  it("moves the room from A to B while all three hubs' users send: no gap, no reordering, nothing acked lost", async () => {
    const { net, hubs, alice, bob, carol } = await threeHubRoom();
    const a = hubs[A]!;
    const b = hubs[B]!;
    const c = hubs[C]!;
    expect(a.hub.federation!.roomAuthority(ROOM)).toEqual({
      authority: A,
      term: 0n,
      role: "sequencer",
      commitIndex: 2n,
    });
    expect((await sendVia(net, b, bob, appMessage(bob, ROOM, 1n, "before"))).opcode).toBe(
      Opcode.ACK,
    );
    // The transfer starts while a message of each user is in flight.
    const moving = a.hub.federation!.transfer(ROOM, B);
    const inFlight = [
      [a, alice, appMessage(alice, ROOM, 1n, "during a")],
      [b, bob, appMessage(bob, ROOM, 1n, "during b")],
      [c, carol, appMessage(carol, ROOM, 1n, "during c")],
    ] as const;
    for (const [env, client, bytes] of inFlight) {
      await env.hub.handleFrame(client.sessionId, client.senderId, bytes);
    }
    await net.settle();
    expect(await moving).toEqual({ ok: true, term: 1n });
    // Refused ones (TRANSFERRING) are retried with the same request id, like the client core.
    const acked: Answer[] = [];
    for (const [env, client, bytes] of inFlight) {
      const first = answerTo(env, client, FrameHeader.view(bytes).requestId);
      expect(["ACK", "TRANSFERRING"]).toContain(
        first?.opcode === Opcode.ACK ? "ACK" : first?.error?.name,
      );
      acked.push(await sendRetrying(net, env, client, bytes));
    }
    for (const x of acked) expect(x.opcode).toBe(Opcode.ACK);
    // Every hub's view: B sequences in term 1, the others replicate it.
    for (const [domain, env] of Object.entries(hubs)) {
      const s = env.hub.federation!.roomAuthority(ROOM);
      expect(s).toMatchObject({ authority: B, term: 1n });
      expect(s!.role).toBe(domain === B ? "sequencer" : "replica");
      expect(env.hub.federation!.book.authorityOf(ROOM)).toEqual({ domain: B, term: 1n });
    }
    // After the transfer: writes from every hub go to B, continuing the log.
    const after = await sendVia(net, a, alice, appMessage(alice, ROOM, 1n, "after a"));
    const afterC = await sendVia(net, c, carol, appMessage(carol, ROOM, 1n, "after c"));
    expect(afterC.frame.header.logIndex).toBe(after.frame.header.logIndex + 1n);
    await net.settle();
    const log = headers(b);
    expect(log).toHaveLength(Number(afterC.frame.header.logIndex) + 1);
    expect(headers(a)).toEqual(log);
    expect(headers(c)).toEqual(log);
    // Every acknowledged frame is at the index its ACK named, from its sender.
    const stored = b.storage.readRange(ROOM, 0n, 1000);
    for (const [i, x] of acked.entries()) {
      const f = FrameHeader.view(stored[Number(x.frame.header.logIndex)]!.header);
      expect(f.senderId).toBe(inFlight[i]![1].senderId);
      expect(f.requestId).toBe(x.frame.header.requestId);
    }
    // Each sequenced frame once: the request ids of each sender are distinct.
    const seen = stored.map((f) => {
      const h = FrameHeader.view(f.header);
      return `${h.senderId}:${h.requestId}`;
    });
    expect(new Set(seen).size).toBe(seen.length);
  });
});
