/**
 * Hub links over the simulated network (federation/simLinks.ts): the shipped handshake
 * brings a link up, frames pass in order and once whatever the network does, a lost
 * message breaks the stream and the dialer redials, silence (a partition) takes the link
 * down at both ends, a stranger is refused, a crashed hub's links come back on restart.
 */
import { createDeviceSigner, Flag, FrameHeader, hubFrame, Opcode } from "@kalandra/proto";
import { type FederationInputs, staticPeerPolicy } from "@kalandra/server";
import { describe, expect, it } from "vitest";
import { SimHubLinks } from "../src/federation/simLinks.js";
import { PERFECT_LINK, SimNetwork } from "../src/network.js";
import { SimRun } from "../src/simRun.js";

const A = "a.example";
const B = "b.example";

class Recorder implements FederationInputs {
  readonly events: string[] = [];
  readonly frames: number[] = [];
  linkUp(domain: string): void {
    this.events.push(`up ${domain}`);
  }
  linkDown(domain: string): void {
    this.events.push(`down ${domain}`);
  }
  linkFrame(_domain: string, bytes: Uint8Array): void {
    this.frames.push(FrameHeader.view(bytes).requestId);
  }
}

function pair(o: { strangerB?: boolean } = {}) {
  const run = new SimRun(1n, true);
  const network = new SimNetwork(run.scheduler, run.rng.fork("net"));
  const keys = {
    [A]: createDeviceSigner(new Uint8Array(32).fill(1)),
    [B]: createDeviceSigner(new Uint8Array(32).fill(2)),
  };
  let conn = 0;
  const make = (self: typeof A | typeof B, other: typeof A | typeof B, configured: boolean) => {
    const core = new Recorder();
    const links = new SimHubLinks({
      domain: self,
      signer: keys[self],
      policy: staticPeerPolicy({
        domain: self,
        peers: configured ? [{ domain: other, hubKey: keys[other].publicKey }] : [],
      }),
      peers: [other],
      network,
      clock: run.scheduler.clockFor(() => 0),
      rng: run.rng.fork(self),
      nextConnId: () => ++conn,
      core: () => core,
      trace: (l) => run.trace.record(l),
    });
    network.attach(self, (from, bytes) => {
      links.receive(from, bytes);
    });
    return { core, links };
  };
  const a = make(A, B, true);
  const b = make(B, A, o.strangerB !== true);
  a.links.start(run.scheduler.timersFor(A));
  b.links.start(run.scheduler.timersFor(B));
  return { run, network, a, b, signer: keys[A] };
}

const frame = (signer: ReturnType<typeof createDeviceSigner>, n: number) =>
  hubFrame(signer, Opcode.SYNC_REQUEST, 1n, 0n, { from: 0n, limit: 1 }, Flag.FEDERATED, n);

describe("simulated hub links", () => {
  it("come up through the handshake (a dials b) and carry frames in order, once", async () => {
    const { run, network, a, b, signer } = pair();
    await run.runFor(500);
    expect(a.core.events).toEqual([`up ${B}`]);
    expect(b.core.events).toEqual([`up ${A}`]);
    expect(a.links.isUp(B) && b.links.isUp(A)).toBe(true);
    network.setLink(A, B, { ...PERFECT_LINK, reorder: 0.5, duplicate: 0.5, latencyMs: 5 });
    for (let i = 1; i <= 30; i++) a.links.send(B, frame(signer, i));
    await run.runFor(1000);
    expect(b.core.frames).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    // Bytes from a node that is not a peer are not the links' to handle.
    expect(a.links.receive("alice@a.example", new Uint8Array(10))).toBe(false);
  });

  it("break on a lost message, go down at both ends and come back by redial", async () => {
    const { run, network, a, b, signer } = pair();
    await run.runFor(500);
    network.setLink(A, B, { ...PERFECT_LINK, loss: 0.5 });
    for (let i = 1; i <= 20; i++) a.links.send(B, frame(signer, i));
    network.setLink(A, B, PERFECT_LINK);
    await run.runFor(3000);
    expect(b.core.events).toContain(`down ${A}`);
    expect(b.core.events.at(-1)).toBe(`up ${A}`);
    expect(a.core.events.at(-1)).toBe(`up ${B}`);
    expect(a.links.stats.downs).toBeGreaterThan(0);
    // What passed before the break was in order.
    const got = b.core.frames;
    expect(got).toEqual([...got].sort((x, y) => x - y));
    expect(run.trace.lines().some((l) => l.includes("stream broken"))).toBe(true);
  });

  it("notice a partition from both ends (silence) and a crashed hub's return", async () => {
    const { run, network, a, b } = pair();
    await run.runFor(500);
    network.partition([A], [B]);
    await run.runFor(2500);
    expect(a.core.events).toContain(`down ${B}`);
    expect(b.core.events).toContain(`down ${A}`);
    network.unpartition([A], [B]);
    await run.runFor(3000);
    expect(a.links.isUp(B)).toBe(true);
    // b crashes: a notices the silence; b restarts and a's redial brings the link back.
    run.scheduler.crash(B);
    b.links.stop();
    expect(b.links.isUp(A)).toBe(false);
    await run.runFor(2500);
    expect(a.links.isUp(B)).toBe(false);
    run.scheduler.restart(B);
    b.links.start(run.scheduler.timersFor(B));
    await run.runFor(3000);
    expect(a.links.isUp(B) && b.links.isUp(A)).toBe(true);
  });

  it("refuse a hub the acceptor has not configured: never up, redialed with backoff", async () => {
    const { run, a, b } = pair({ strangerB: true });
    await run.runFor(3000);
    expect(a.core.events).toEqual([]);
    expect(b.core.events).toEqual([]);
    expect(b.links.stats.refused).toBeGreaterThan(0);
    expect(run.trace.lines().some((l) => l.includes("PEER_NOT_CONFIGURED"))).toBe(true);
  });
});
