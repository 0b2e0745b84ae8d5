/**
 * Replay protection of relayed envelopes (federation/relayReplay.ts, onwardRelay.ts `accept`):
 * a relayed envelope is believed once, whatever the rate of envelopes and however full the
 * bounded memory, and a full memory costs a shrunk window, never a replay.
 */
import {
  createDeviceSigner,
  type FedEnvelopePayload,
  openEnvelope,
  type ProtocolErrorCode,
  sealEnvelope,
} from "@kalandra/proto";
import { ManualTime } from "@kalandra/test-support";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { OnwardRelay, RELAY_REPLAY_WINDOW_MS } from "../../src/federation/onwardRelay.js";
import { staticPeerPolicy } from "../../src/federation/peerPolicy.js";
import { ReplayMemory } from "../../src/federation/relayReplay.js";
import { makeClient, makeEnv } from "../hub/harness.js";
import { appMessage } from "../sequencer/room.js";

const hub = (v: number) => createDeviceSigner(new Uint8Array(32).fill(v));
const [a, b, c] = [hub(1), hub(2), hub(3)];
const W = Number(RELAY_REPLAY_WINDOW_MS);

/** Hub c.example, reaching a.example through b.example, remembering at most `max`. */
function atC(max: number) {
  const counted: ProtocolErrorCode[] = [];
  const time = new ManualTime(0n);
  const relay = new OnwardRelay({
    self: "c.example",
    peers: staticPeerPolicy({
      domain: "c.example",
      peers: [
        { domain: "b.example", hubKey: b.publicKey },
        { domain: "a.example", hubKey: a.publicKey, via: "b.example" },
      ],
    }),
    signer: c,
    clock: time,
    linked: (d) => d === "b.example",
    sendRaw: () => {},
    count: (code) => counted.push(code),
    maxRemembered: max,
  });
  return { relay, counted, time };
}

let frame: Uint8Array;
beforeAll(async () => {
  const env = await makeEnv();
  frame = appMessage(await makeClient(env, "alice@a.example"), 5n, 0n, "x");
});

/** An envelope a.example sealed for c.example at its time `at`, as b.example relays it. */
function fromA(at: bigint): FedEnvelopePayload {
  const wire = sealEnvelope(a, {
    origin: "a.example",
    forwardedAt: at,
    hops: 1,
    frame,
    dest: "c.example",
  });
  return { ...openEnvelope(wire, a.publicKey, { maxHops: 3 }).envelope, hops: 2 };
}

describe("relayed envelopes are believed once", () => {
  it("refuses a replay of an envelope the full memory forgot, inside the window", () => {
    const c = atC(16);
    c.time.advance(1000);
    // 40 envelopes within one second: far more than the memory holds, all inside the window.
    const sent = Array.from({ length: 40 }, (_, i) => fromA(BigInt(1000 + i * 25)));
    for (const e of sent) expect(c.relay.accept("b.example", e)).toEqual(a.publicKey);
    expect(c.relay.replays.size.signatures).toBeLessThanOrEqual(16);
    for (const e of sent) expect(c.relay.accept("b.example", e)).toBeUndefined();
    expect(c.counted).toEqual(sent.map(() => "REPLAYED_ENVELOPE"));
    // The origin's next envelope is believed: the window shrank, nothing new is refused.
    expect(c.relay.accept("b.example", fromA(2001n))).toEqual(a.publicKey);
  });

  it("remembers an envelope until its origin time leaves the window, not its arrival", () => {
    const c = atC(16);
    // a.example's clock runs ahead of c.example's by almost the whole window.
    const ahead = fromA(BigInt(W - 1));
    expect(c.relay.accept("b.example", ahead)).toEqual(a.publicKey);
    c.time.advance(W + 10);
    // Another envelope arrives (the memory forgets what it may), then the replay.
    expect(c.relay.accept("b.example", fromA(BigInt(2 * W - 2)))).toEqual(a.publicKey);
    expect(c.relay.accept("b.example", ahead)).toBeUndefined();
    expect(c.counted).toEqual(["REPLAYED_ENVELOPE"]);
  });
});

describe("ReplayMemory", () => {
  const op = fc.oneof(
    fc.record({
      kind: fc.constant("new" as const),
      origin: fc.nat(2),
      dt: fc.integer({ min: 1, max: 400 }),
    }),
    fc.record({ kind: fc.constant("replay" as const), pick: fc.nat() }),
  );

  it("believes each signature at most once and every new one in order, in bounded memory", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.array(op, { maxLength: 300 }),
        (max, window, ops) => {
          const m = new ReplayMemory(BigInt(window), max);
          const sent: { origin: string; sig: Uint8Array; at: bigint }[] = [];
          let now = 0n;
          for (const o of ops) {
            if (o.kind === "new") {
              now += BigInt(o.dt);
              const e = { origin: `h${o.origin}`, sig: sigOf(sent.length), at: now };
              sent.push(e);
              // A fresh envelope, its origin time rising: never refused, however full.
              expect(m.fresh(e.origin, e.sig, e.at, now)).toBe(true);
            } else if (sent.length > 0) {
              const e = sent[o.pick % sent.length] as (typeof sent)[number];
              expect(m.fresh(e.origin, e.sig, e.at, now)).toBe(false);
            }
            expect(m.size.signatures).toBeLessThanOrEqual(max);
            expect(m.size.floors).toBeLessThanOrEqual(3);
          }
        },
      ),
      { seed: 18, numRuns: 300 },
    );
  });

  it("refuses an origin time outside the window either side", () => {
    const m = new ReplayMemory(100n, 4);
    expect(m.fresh("h", sigOf(1), 0n, 101n)).toBe(false);
    expect(m.fresh("h", sigOf(2), 202n, 101n)).toBe(false);
    expect(m.fresh("h", sigOf(3), 1n, 101n)).toBe(true);
    expect(() => new ReplayMemory(100n, 0)).toThrow(RangeError);
  });
});

function sigOf(n: number): Uint8Array {
  const sig = new Uint8Array(64);
  new DataView(sig.buffer).setUint32(0, n);
  return sig;
}
