/**
 * kalandrad hub links between in-process daemons on loopback (runtime/node/federation/):
 * the lower domain dials, both prove their pinned keys, readiness and metrics see the
 * link; a hub that is not a configured peer, or a blocked one, is refused with its typed
 * code and audited; a peer that goes away is redialed with backoff once it is back. With
 * federation disabled a FED_HELLO gets what it got before federation existed.
 */
import { createPrivateKey } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodePayload, Flag, Frame, hubFrame, Opcode, verifyFrame } from "@kalandra/proto";
import { waitUntil } from "@kalandra/test-support";
import { afterAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { LinkEndpoint } from "../../../src/federation/link/index.js";
import type { Daemon } from "../../../src/runtime/node/daemon.js";
import { hubKeySigner } from "../../../src/runtime/node/wire.js";
import { buckets } from "../../federation/link/fixtures.js";
import { isOp, RawClient } from "../helpers.js";
import { auditOf, type HubSpec, hubConfig, hubSpec, metricsOf, startHub } from "./hubs.js";

const root = mkdtempSync(join(tmpdir(), "kalandra-fed-links-"));
const running: Daemon[] = [];
afterAll(async () => {
  for (const d of running) await d.shutdown("test");
});

async function start(spec: HubSpec, peers: HubSpec[], federation: Record<string, unknown> = {}) {
  const d = await startHub(hubConfig(spec, peers, federation));
  running.push(d);
  return d;
}
function signerOf(s: HubSpec) {
  return hubKeySigner({
    privateKey: createPrivateKey(readFileSync(s.keyPath, "utf8")),
    publicKey: Uint8Array.from(Buffer.from(s.hubKeyHex, "hex")),
  });
}

/** Polls an async read (real time, bounded) until `ok` holds; returns the last value. */
async function eventually<T>(
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await read();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not reached in 10 s: ${what}`);
}
async function stop(d: Daemon) {
  await d.shutdown("test");
  running.splice(running.indexOf(d), 1);
}

describe("kalandrad hub links", () => {
  it("link up, refusals typed and audited, redial after the peer restarts, block on SIGHUP", async () => {
    const [a, b, ab] = await Promise.all([
      hubSpec(root, "a.example"),
      hubSpec(root, "b.example"),
      hubSpec(root, "ab.example"), // sorts before b.example: it dials b
    ]);
    let hubB = await start(b, [a]);
    const hubA = await start(a, [b]);
    await waitUntil(() => hubA.peerLinks.state("b.example") === "up", "a's link to b up");
    await waitUntil(() => hubB.peerLinks.state("a.example") === "up", "b's link to a up");
    expect(await metricsOf(a)).toMatch(/kalandra_federation_link_up\{peer="b.example"\} 1/);
    expect(await metricsOf(a)).toMatch(
      /kalandra_federation_dials_total\{peer="b.example",result="up"\} 1/,
    );

    // A hub b does not list: refused PEER_NOT_CONFIGURED, in b's audit chain.
    const stranger = await start(ab, [b], { reconnect_min_ms: 5000, reconnect_max_ms: 5000 });
    await waitUntil(
      () => stranger.federation !== undefined && !stranger.federation.isUp("b.example"),
      "stranger not linked",
    );
    const refusals = await eventually(
      async () => (await auditOf(b)).filter((r) => r.kind === "federation_link_refused"),
      (rs) => rs.length > 0,
      "b audits the refusal",
    );
    expect(refusals[0]).toMatchObject({
      actor: "ab.example",
      detail: { code: "PEER_NOT_CONFIGURED", side: "accepted" },
    });
    expect(await metricsOf(ab)).toMatch(
      /kalandra_federation_dials_total\{peer="b.example",result="refused"\} \d+/,
    );
    expect(hubB.peerLinks.state("ab.example")).toBeUndefined();
    await stop(stranger);

    // b goes away: a sees the link down; b comes back: a redials it.
    await stop(hubB);
    await waitUntil(() => hubA.peerLinks.state("b.example") === "down", "a sees b down");
    hubB = await start(b, [a]);
    await waitUntil(() => hubA.peerLinks.state("b.example") === "up", "a redials b");
    expect(hubB.peerLinks.state("a.example")).toBe("up");

    // b blocks a (SIGHUP): the link closes, a's redials are refused PEER_BLOCKED and audited.
    const blocked = structuredClone(hubConfig(b, [a]));
    blocked.federation.block = ["a.example"];
    hubB.reload(blocked);
    await waitUntil(() => hubA.peerLinks.state("b.example") === "down", "blocked link closes");
    const blockedRecords = await eventually(
      async () =>
        (await auditOf(b)).filter(
          (r) => r.kind === "federation_link_refused" && r.detail.code === "PEER_BLOCKED",
        ),
      (rs) => rs.length > 0,
      "b audits the blocked redial",
    );
    expect(blockedRecords[0]).toMatchObject({ actor: "a.example", detail: { side: "accepted" } });
    expect(hubA.peerLinks.state("b.example")).toBe("down");
    // Unblocked: a's next redial (backoff ≤ 200 ms here) brings the link back.
    hubB.reload(hubConfig(b, [a]));
    await waitUntil(() => hubA.peerLinks.state("b.example") === "up", "unblocked link back up");
  }, 60_000);

  it("with federation disabled a FED_HELLO is refused as any frame before HELLO", async () => {
    const [a, b] = await Promise.all([hubSpec(root, "a2.example"), hubSpec(root, "b2.example")]);
    const cfg = hubConfig(b, [a], { enabled: false });
    const hubB = await startHub(cfg);
    running.push(hubB);
    expect(hubB.federation).toBeUndefined();
    const signer = signerOf(a);
    const hello = LinkEndpoint.dialer({
      self: { domain: a.domain, signer },
      peer: { domain: b.domain, hubKey: Uint8Array.from(Buffer.from(b.hubKeyHex, "hex")) },
      rng: { bytes: (n) => new Uint8Array(n).fill(7) },
      bucketFor: buckets(),
    }).start()[0] as { frame: Uint8Array };
    const ws = new WebSocket(`ws://127.0.0.1:${b.wsPort}/kalandra`);
    const answer = new Promise<Uint8Array>((resolve, reject) => {
      ws.on("message", (d) => resolve(new Uint8Array(d as Buffer)));
      ws.on("error", reject);
    });
    await new Promise((r) => ws.on("open", r));
    ws.send(hello.frame);
    const err = decodePayload(Opcode.ERROR, Frame.fromWire(await answer).payload);
    expect(err).toMatchObject({ name: "UNAUTHENTICATED", message: "expected HELLO" });
    ws.close();
  });

  it("accepts a link on the WebTransport listener too (the same session handoff)", async () => {
    const [a, b] = await Promise.all([hubSpec(root, "a3.example"), hubSpec(root, "b3.example")]);
    const hubB = await start(b, [a]);
    const dialer = LinkEndpoint.dialer({
      self: { domain: a.domain, signer: signerOf(a) },
      peer: { domain: b.domain, hubKey: Uint8Array.from(Buffer.from(b.hubKeyHex, "hex")) },
      rng: { bytes: (n) => new Uint8Array(n).fill(9) },
      bucketFor: buckets(),
    });
    const wt = await RawClient.connect(hubB.port, hubB.certHash);
    const run = async (evs: ReturnType<LinkEndpoint["start"]>) => {
      for (const e of evs) if (e.kind === "send") await wt.send(e.frame);
      return evs;
    };
    await run(dialer.start());
    const challenge = await wt.waitFor(isOp(Opcode.FED_CHALLENGE));
    await run(dialer.receive(Frame.fromWire(challenge)));
    const ok = await wt.waitFor(isOp(Opcode.FED_LINK_OK));
    const evs = await run(dialer.receive(Frame.fromWire(ok)));
    expect(evs.map((e) => e.kind)).toEqual(["up"]);
    await waitUntil(() => hubB.peerLinks.state("a3.example") === "up", "b sees a's link");
    wt.close();
    await waitUntil(() => hubB.peerLinks.state("a3.example") === "down", "b sees it go");
  });

  it("the accepting side pings too: a dialer that falls silent is noticed and its link closed", async () => {
    const [a, b] = await Promise.all([hubSpec(root, "a4.example"), hubSpec(root, "b4.example")]);
    // 300 ms, not less: under a loaded CI machine the loop can stall a few hundred ms, and a
    // link answered throughout must not be closed as silent.
    const hubB = await start(b, [a], { keepalive_ms: 300 });
    const bKey = Uint8Array.from(Buffer.from(b.hubKeyHex, "hex"));
    const signer = signerOf(a);
    const dialer = LinkEndpoint.dialer({
      self: { domain: a.domain, signer },
      peer: { domain: b.domain, hubKey: bKey },
      rng: { bytes: (n) => new Uint8Array(n).fill(5) },
      bucketFor: buckets(),
    });
    const ws = new WebSocket(`ws://127.0.0.1:${b.wsPort}/kalandra`);
    let answering = true;
    let pings = 0;
    ws.on("message", (d) => {
      const f = Frame.fromWire(new Uint8Array(d as Buffer));
      if (f.header.opcode === Opcode.PING) {
        expect(verifyFrame(f, bKey)).toBe(true);
        pings++;
        if (!answering) return;
        const { nonce } = decodePayload(Opcode.PING, f.payload);
        ws.send(hubFrame(signer, Opcode.PONG, 0n, 0n, { nonce }, Flag.FEDERATED | Flag.RESPONSE));
        return;
      }
      for (const e of dialer.receive(f)) if (e.kind === "send") ws.send(e.frame);
    });
    await new Promise((r) => ws.on("open", r));
    for (const e of dialer.start()) if (e.kind === "send") ws.send(e.frame);
    await waitUntil(() => hubB.peerLinks.state("a4.example") === "up", "b sees a's link");
    // Answered, the link stays up across many intervals.
    await waitUntil(() => pings >= 4, "b pings the dialer");
    expect(hubB.peerLinks.state("a4.example")).toBe("up");
    // Silent (a partition): b closes the link on its own within a few intervals.
    answering = false;
    const silentAt = performance.now();
    await waitUntil(() => hubB.peerLinks.state("a4.example") === "down", "b drops the silent link");
    // Within a few intervals, not waitUntil's 30 s.
    expect(performance.now() - silentAt).toBeLessThan(4000);
    ws.close();
  });
});
