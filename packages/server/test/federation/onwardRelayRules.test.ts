/**
 * The rules of onward relay (federation/onwardRelay.ts) on their own: who a hub relays for,
 * whose relayed envelopes it believes, and for how long.
 */
import {
  createDeviceSigner,
  type FedEnvelopePayload,
  openEnvelope,
  type ProtocolErrorCode,
  sealEnvelope,
} from "@kalandra/proto";
import { ManualTime } from "@kalandra/test-support";
import { describe, expect, it } from "vitest";
import { OnwardRelay, RELAY_REPLAY_WINDOW_MS } from "../../src/federation/onwardRelay.js";
import { staticPeerPolicy } from "../../src/federation/peerPolicy.js";
import { makeClient, makeEnv } from "../hub/harness.js";
import { appMessage } from "../sequencer/room.js";

const hub = (v: number) => createDeviceSigner(new Uint8Array(32).fill(v));
const [a, b, c] = [hub(1), hub(2), hub(3)];

function relayAt(
  self: string,
  peers: { domain: string; hubKey: Uint8Array; via?: string }[],
  opts: { block?: string[]; linked?: string[]; maxRemembered?: number } = {},
) {
  const counted: ProtocolErrorCode[] = [];
  const sent: { to: string; bytes: Uint8Array }[] = [];
  const time = new ManualTime(0n);
  const relay = new OnwardRelay({
    self,
    peers: staticPeerPolicy({ domain: self, peers, ...(opts.block ? { block: opts.block } : {}) }),
    signer: self === "b.example" ? b : c,
    clock: time,
    linked: (d) => (opts.linked ?? []).includes(d),
    sendRaw: (to, bytes) => sent.push({ to, bytes }),
    count: (code) => counted.push(code),
    ...(opts.maxRemembered === undefined ? {} : { maxRemembered: opts.maxRemembered }),
  });
  return { relay, counted, sent, time };
}

let frame: Uint8Array | undefined;

/** An envelope a.example sealed for `dest` at its time `at`. */
async function fromA(dest: string, at = 0n): Promise<FedEnvelopePayload & { dest: string }> {
  frame ??= appMessage(await makeClient(await makeEnv(), "alice@a.example"), 5n, 0n, "x");
  const wire = sealEnvelope(a, { origin: "a.example", forwardedAt: at, hops: 1, frame, dest });
  const e = openEnvelope(wire, a.publicKey, { maxHops: 3 }).envelope;
  return { ...e, dest };
}

describe("onward relay rules", () => {
  it("a relay refuses to carry a blocked origin, and the destination refuses it too", async () => {
    const e = await fromA("c.example");
    const atB = relayAt(
      "b.example",
      [
        { domain: "a.example", hubKey: a.publicKey },
        { domain: "c.example", hubKey: c.publicKey },
      ],
      { block: ["a.example"], linked: ["a.example", "c.example"] },
    );
    atB.relay.pass("a.example", e);
    expect(atB.counted).toEqual(["PEER_BLOCKED"]);
    expect(atB.sent).toEqual([]);
    const atC = relayAt(
      "c.example",
      [
        { domain: "b.example", hubKey: b.publicKey },
        { domain: "a.example", hubKey: a.publicKey, via: "b.example" },
      ],
      { block: ["a.example"], linked: ["b.example"] },
    );
    expect(atC.relay.accept("b.example", { ...e, hops: 2 })).toBeUndefined();
    expect(atC.counted).toEqual(["PEER_BLOCKED"]);
  });

  it("never sends an envelope back where it came from or to its origin", async () => {
    const e = await fromA("c.example");
    // B's route to C is A itself: relaying would loop.
    const atB = relayAt(
      "b.example",
      [
        { domain: "a.example", hubKey: a.publicKey },
        { domain: "c.example", hubKey: c.publicKey, via: "a.example" },
      ],
      { linked: ["a.example"] },
    );
    atB.relay.pass("a.example", e);
    expect(atB.counted).toEqual(["PEER_UNREACHABLE"]);
    expect(atB.sent).toEqual([]);
  });

  it("believes a relayed envelope once, within the replay window of its origin time", async () => {
    const peers = [
      { domain: "b.example", hubKey: b.publicKey },
      { domain: "a.example", hubKey: a.publicKey, via: "b.example" },
    ];
    const atC = relayAt("c.example", peers, { linked: ["b.example"] });
    atC.time.advance(Number(RELAY_REPLAY_WINDOW_MS) + 5);
    const e = await fromA("c.example", 10n);
    expect(atC.relay.accept("b.example", { ...e, hops: 2 })).toEqual(a.publicKey);
    expect(atC.relay.accept("b.example", { ...e, hops: 3 })).toBeUndefined();
    const old = await fromA("c.example", 0n);
    expect(atC.relay.accept("b.example", { ...old, hops: 2 })).toBeUndefined();
    expect(atC.counted).toEqual(["REPLAYED_ENVELOPE", "REPLAYED_ENVELOPE"]);
  });

  // relayReplay.ts: a relayed envelope is believed once whatever the rate of envelopes.
  const behindB = [
    { domain: "b.example", hubKey: b.publicKey },
    { domain: "a.example", hubKey: a.publicKey, via: "b.example" },
  ];

  it("refuses a replay of an envelope the full memory forgot, inside the window", async () => {
    const atC = relayAt("c.example", behindB, { linked: ["b.example"], maxRemembered: 16 });
    atC.time.advance(1000);
    // 40 envelopes within one second: far more than the memory holds, all inside the window.
    const sent = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => ({
        ...(await fromA("c.example", BigInt(1000 + i * 25))),
        hops: 2,
      })),
    );
    for (const e of sent) expect(atC.relay.accept("b.example", e)).toEqual(a.publicKey);
    expect(atC.relay.replays.size.signatures).toBeLessThanOrEqual(16);
    for (const e of sent) expect(atC.relay.accept("b.example", e)).toBeUndefined();
    expect(atC.counted).toEqual(sent.map(() => "REPLAYED_ENVELOPE"));
    // The origin's next envelope is believed: the window shrank, nothing new is refused.
    const next = await fromA("c.example", 2001n);
    expect(atC.relay.accept("b.example", { ...next, hops: 2 })).toEqual(a.publicKey);
  });

  it("remembers an envelope until its origin time leaves the window, not its arrival", async () => {
    const atC = relayAt("c.example", behindB, { linked: ["b.example"] });
    const W = Number(RELAY_REPLAY_WINDOW_MS);
    // a.example's clock runs ahead of c.example's by almost the whole window.
    const ahead = { ...(await fromA("c.example", BigInt(W - 1))), hops: 2 };
    expect(atC.relay.accept("b.example", ahead)).toEqual(a.publicKey);
    atC.time.advance(W + 10);
    // Another envelope arrives (the memory forgets what it may), then the replay.
    const later = await fromA("c.example", BigInt(2 * W - 2));
    expect(atC.relay.accept("b.example", { ...later, hops: 2 })).toEqual(a.publicKey);
    expect(atC.relay.accept("b.example", ahead)).toBeUndefined();
    expect(atC.counted).toEqual(["REPLAYED_ENVELOPE"]);
  });
});
