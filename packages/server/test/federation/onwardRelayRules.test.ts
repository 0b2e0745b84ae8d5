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
  opts: { block?: string[]; linked?: string[] } = {},
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
  });
  return { relay, counted, sent, time };
}

async function fromA(dest: string, at = 0n): Promise<FedEnvelopePayload & { dest: string }> {
  const env = await makeEnv();
  const alice = await makeClient(env, "alice@a.example");
  const wire = sealEnvelope(a, {
    origin: "a.example",
    forwardedAt: at,
    hops: 1,
    frame: appMessage(alice, 5n, 0n, "x"),
    dest,
  });
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
});
