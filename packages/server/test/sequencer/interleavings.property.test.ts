/**
 * Property (issue 3): random interleavings of commits, proposals, external commits and
 * application messages from several real ts-mls members never produce two commits for one
 * epoch, a gap in the log, or an accepted message at a wrong epoch. Each step prepares up
 * to three actions from the members' (possibly stale) states and delivers their frames to
 * the hub concurrently, in a random order. Groups stay small: ts-mls is slow.
 */
import { decodePayload, Frame, Opcode } from "@kalandra/proto";
import fc from "fast-check";
import { decodeMlsMessage } from "ts-mls";
import { describe, expect, it } from "vitest";
import { answerTo, type Client, frameOf, makeClient, registerDevice } from "../hub/harness.js";
import {
  process as apply,
  commit,
  device,
  externalJoin,
  memberProposal,
} from "../mls/mlsClients.js";
import { appMessage, type Room, roomWith } from "./room.js";

type Action =
  | { k: "app"; who: number; stale: boolean }
  | { k: "commit"; who: number }
  | { k: "propose"; who: number }
  | { k: "join"; from: number }
  | { k: "catchUp"; who: number };

const action = (n: number): fc.Arbitrary<Action> =>
  fc.oneof(
    fc.record({ k: fc.constant("app" as const), who: fc.nat(n - 1), stale: fc.boolean() }),
    fc.record({ k: fc.constant("commit" as const), who: fc.nat(n - 1) }),
    fc.record({ k: fc.constant("propose" as const), who: fc.nat(n - 1) }),
    fc.record({ k: fc.constant("join" as const), from: fc.nat(n - 1) }),
    fc.record({ k: fc.constant("catchUp" as const), who: fc.nat(n - 1) }),
  );

interface Actor {
  c: Client;
  /** Log indexes whose handshake this member has already applied. */
  seen: bigint;
}

/** What the runs exercised, so the property cannot pass vacuously. */
const seen = { accepted: new Map<number, number>(), refused: new Map<string, number>() };
const bump = <K>(m: Map<K, number>, k: K) => m.set(k, (m.get(k) ?? 0) + 1);

const mls = (b: Uint8Array) => decodeMlsMessage(b, 0)![0];

/** Applies every handshake frame after `seen` from the hub's log (as SYNC would). */
async function catchUp(room: Room, a: Actor, own: Set<string>): Promise<void> {
  const { env, roomId } = room;
  const head = env.storage.nextIndex(roomId);
  for (const f of env.storage.readRange(roomId, a.seen, Number(head - a.seen))) {
    a.seen = f.logIndex + 1n;
    if (own.has(`${a.c.name}:${f.logIndex}`)) continue;
    const h = Frame.fromWire(concat(f.header, f.payload!)).header;
    let msg: Uint8Array | undefined;
    if (h.opcode === Opcode.COMMIT) msg = decodePayload(Opcode.COMMIT, f.payload!).commit;
    if (h.opcode === Opcode.EXTERNAL_COMMIT)
      msg = decodePayload(Opcode.EXTERNAL_COMMIT, f.payload!).commit;
    if (h.opcode === Opcode.PROPOSAL) msg = decodePayload(Opcode.PROPOSAL, f.payload!).message;
    if (msg !== undefined) a.c.state = await apply(env.cs, a.c.state!, mls(msg));
  }
}

const concat = (a: Uint8Array, b: Uint8Array) => {
  const o = new Uint8Array(a.length + b.length);
  o.set(a);
  o.set(b, a.length);
  return o;
};

async function run(steps: Action[][], order: number[]): Promise<void> {
  const room = await roomWith(["alice", "bob", "carol"]);
  const { env, roomId } = room;
  const actors: Actor[] = room.members.map((c) => ({ c, seen: env.storage.nextIndex(roomId) }));
  const own = new Set<string>();
  let joiners = 0;
  let o = 0;
  for (const step of steps) {
    // Prepare every action of the step from the members' current (maybe stale) states.
    const sends: { c: Client; bytes: Uint8Array; onAck?: (logIndex: bigint) => void }[] = [];
    for (const act of step) {
      if (act.k === "catchUp") {
        await catchUp(room, actors[act.who]!, own);
        continue;
      }
      if (act.k === "join") {
        const d = await makeClient(env, `joiner${++joiners}`);
        const j = await externalJoin(env.cs, d.device, actors[act.from]!.c.state!);
        const epoch = actors[act.from]!.c.state!.groupContext.epoch;
        sends.push({
          c: d,
          bytes: frameOf(d, Opcode.EXTERNAL_COMMIT, roomId, epoch, {
            commit: j.commit,
            group_info: j.groupInfo,
          }),
        });
        continue;
      }
      const a = actors[act.who]!;
      const epoch = a.c.state!.groupContext.epoch;
      if (act.k === "app") {
        sends.push({
          c: a.c,
          bytes: appMessage(a.c, roomId, act.stale && epoch > 0n ? epoch - 1n : epoch),
        });
      } else if (act.k === "commit") {
        const made = await commit(env.cs, a.c.state!);
        sends.push({
          c: a.c,
          bytes: frameOf(a.c, Opcode.COMMIT, roomId, epoch, {
            commit: made.commit,
            group_info: made.groupInfo,
          }),
          onAck: (i) => {
            a.c.state = made.state;
            own.add(`${a.c.name}:${i}`);
          },
        });
      } else {
        const name = `added${++joiners}`;
        const fresh = await device(env.cs, name);
        await registerDevice(env, fresh, name);
        const p = await memberProposal(env.cs, a.c.state!, {
          proposalType: "add",
          add: { keyPackage: fresh.publicPackage },
        });
        sends.push({
          c: a.c,
          bytes: frameOf(a.c, Opcode.PROPOSAL, roomId, epoch, { message: p.bytes }),
          onAck: (i) => {
            a.c.state = p.state;
            own.add(`${a.c.name}:${i}`);
          },
        });
      }
    }
    // Deliver concurrently in a random order.
    const shuffled = sends.map((s, i) => ({ s, key: order[o++ % order.length]! * 10 + i }));
    shuffled.sort((x, y) => x.key - y.key);
    await Promise.all(
      shuffled.map(({ s }) => env.hub.handleFrame(s.c.sessionId, s.c.senderId, s.bytes)),
    );
    await env.hub.shards.drain();
    for (const s of sends) {
      const rid = Frame.fromWire(s.bytes).header.requestId;
      const ans = answerTo(env, s.c, rid);
      if (ans?.opcode === Opcode.ACK) {
        s.onAck?.(ans.frame.header.logIndex);
        bump(seen.accepted, Frame.fromWire(s.bytes).header.opcode);
      } else if (ans?.error !== undefined) bump(seen.refused, ans.error.name);
    }
  }
  checkInvariants(room);
}

function checkInvariants({ env, roomId }: Room): void {
  const head = env.storage.nextIndex(roomId);
  const log = env.storage.readRange(roomId, 0n, Number(head));
  expect(log.map((f) => f.logIndex)).toEqual(
    Array.from({ length: Number(head) }, (_, i) => BigInt(i)),
  );
  let epoch = 0n;
  let lastHlc = -1n;
  const commitsAt = new Map<bigint, number>();
  for (const f of log) {
    const h = Frame.fromWire(concat(f.header, f.payload!)).header;
    expect(h.logIndex).toBe(f.logIndex);
    expect(h.hlcTimestamp).toBeGreaterThan(lastHlc);
    lastHlc = h.hlcTimestamp;
    if (h.opcode === Opcode.COMMIT || h.opcode === Opcode.EXTERNAL_COMMIT) {
      expect(h.epoch).toBe(epoch); // made in the room's epoch at that point
      commitsAt.set(h.epoch, (commitsAt.get(h.epoch) ?? 0) + 1);
      epoch++;
    } else if (h.opcode === Opcode.APP_MESSAGE || h.opcode === Opcode.PROPOSAL) {
      expect(h.epoch).toBe(epoch);
    }
  }
  for (const n of commitsAt.values()) expect(n).toBe(1);
}

describe("sequencer interleavings (property, real ts-mls members)", () => {
  it("never two commits per epoch, no gap, no accepted message at a wrong epoch", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(action(3), { minLength: 1, maxLength: 3 }), {
          minLength: 2,
          maxLength: 6,
        }),
        fc.array(fc.nat(9), { minLength: 1, maxLength: 8 }),
        run,
      ),
      {
        numRuns: Number(process.env.PROPERTY_RUNS ?? 25),
        seed: Number(process.env.PROPERTY_SEED ?? 20261123),
        endOnFailure: true,
      },
    );
    // The runs did accept commits, external joins, proposals and messages, and refused some.
    for (const op of [Opcode.COMMIT, Opcode.APP_MESSAGE, Opcode.PROPOSAL, Opcode.EXTERNAL_COMMIT]) {
      expect(seen.accepted.get(op) ?? 0).toBeGreaterThan(0);
    }
    expect(seen.refused.get("STALE_EPOCH") ?? 0).toBeGreaterThan(0);
    console.log(
      "interleavings:",
      Object.fromEntries(seen.accepted),
      Object.fromEntries(seen.refused),
    );
  }, 240_000);
});
