/**
 * The room authority engine between three in-process hubs (a message queue instead of
 * links, memory stores, a manual clock): replication and acknowledgement under both
 * ack quorums, a planned transfer with its tail handover, failover from a silent
 * authority and the deposed authority's return, and the message codec.
 */
import { createDeviceSigner } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { MemoryAuthorityStore } from "../../../src/federation/authority/authorityStore.js";
import {
  type AuthorityMessage,
  decodeAuthorityMessage,
  encodeAuthorityMessage,
  type LogEntry,
} from "../../../src/federation/authority/messages.js";
import {
  type AckQuorum,
  RoomAuthorityEngine,
} from "../../../src/federation/authority/roomAuthority.js";
import { StatementFormatError } from "../../../src/federation/authority/statement.js";
import { initialRecord } from "../../../src/federation/authority/termState.js";

const HUBS = ["a.example", "b.example", "c.example"];
const ROOM = 3n;
const FAILOVER_MS = 1000;
const signers = new Map(
  HUBS.map((h, i) => [h, createDeviceSigner(new Uint8Array(32).fill(i + 9))] as const),
);

class Cluster {
  now = 1_000_000n;
  readonly queue: { from: string; to: string; bytes: Uint8Array }[] = [];
  readonly cut = new Set<string>();
  readonly stores = new Map<string, MemoryAuthorityStore>();
  readonly engines = new Map<string, RoomAuthorityEngine>();
  readonly acks: { hub: string; request: string; index: bigint }[] = [];
  readonly served = new Map<string, LogEntry[]>();
  readonly audits: { hub: string; kind: string }[] = [];
  #counter = 0;

  constructor(readonly ackQuorum: AckQuorum) {
    for (const h of HUBS) {
      this.stores.set(h, new MemoryAuthorityStore(initialRecord(ROOM, "a.example")));
      this.served.set(h, []);
      this.start(h);
    }
  }

  start(h: string): RoomAuthorityEngine {
    const e = new RoomAuthorityEngine({
      self: h,
      roomId: ROOM,
      store: this.stores.get(h)!,
      keys: (d) => signers.get(d)?.publicKey,
      signer: signers.get(h)!,
      voters: () => HUBS,
      ackQuorum: this.ackQuorum,
      failoverAfterMs: FAILOVER_MS,
      clock: { now: () => this.now },
      rng: { bytes: (n) => new Uint8Array(n).fill(++this.#counter % 251) },
      send: (to, m) => this.queue.push({ from: h, to, bytes: encodeAuthorityMessage(m) }),
      audit: (kind) => this.audits.push({ hub: h, kind }),
      onCommit: (entries) => this.served.get(h)!.push(...entries),
      onAck: (request, index) => this.acks.push({ hub: h, request, index }),
    });
    this.engines.set(h, e);
    return e;
  }

  engine(h: string): RoomAuthorityEngine {
    return this.engines.get(h)!;
  }

  /** Delivers every queued message (and what they cause), across awaits. */
  async settle(): Promise<void> {
    for (let round = 0; round < 200; round++) {
      await new Promise((r) => setImmediate(r));
      const batch = this.queue.splice(0);
      if (batch.length === 0) return;
      for (const m of batch) {
        if (this.cut.has(m.from) || this.cut.has(m.to)) continue;
        await this.engine(m.to).receive(m.from, decodeAuthorityMessage(m.bytes));
      }
    }
    throw new Error("the cluster did not settle");
  }

  /** Advances the clock in heartbeat steps, ticking every engine. */
  async run(ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 50) {
      this.now += 50n;
      for (const e of this.engines.values()) e.tick();
      await this.settle();
    }
  }

  log(h: string): string[] {
    const s = this.stores.get(h)!;
    return Array.from({ length: Number(s.length()) }, (_, i) => {
      const e = s.entry(BigInt(i))!;
      return `${e.term}:${e.by}:${e.request}`;
    });
  }
}

const body = (t: string) => new TextEncoder().encode(t);

describe("RoomAuthorityEngine", () => {
  it("majority: acknowledges once a majority holds the entry, and replicas serve it in order", async () => {
    const c = new Cluster("majority");
    c.cut.add("c.example");
    const a = c.engine("a.example");
    expect(a.submit("r1", body("one"))).toEqual({ kind: "accepted", index: 0n, term: 0n });
    expect(a.submit("r2", body("two"))).toMatchObject({ kind: "accepted", index: 1n });
    expect(a.submit("r1", body("one"))).toMatchObject({ kind: "accepted", index: 0n });
    expect(c.acks).toEqual([]); // nothing is durable anywhere else yet
    await c.settle();
    expect(c.acks.map((x) => x.request)).toEqual(["r1", "r2"]);
    await c.run(100); // the next heartbeat carries the commit to b
    expect(c.served.get("b.example")!.map((e) => e.request)).toEqual(["r1", "r2"]);
    expect(c.served.get("c.example")).toEqual([]);
    c.cut.clear();
    await c.run(100);
    expect(c.log("c.example")).toEqual(c.log("a.example"));
    expect(c.engine("b.example").submit("r3", body("x"))).toMatchObject({
      kind: "refused",
      code: "NOT_AUTHORITY",
      authority: "a.example",
    });
  });

  it("majority: with both replicas cut off nothing is acknowledged; local: acknowledged at once", async () => {
    const m = new Cluster("majority");
    m.cut.add("b.example").add("c.example");
    m.engine("a.example").submit("r1", body("one"));
    await m.run(200);
    expect(m.acks).toEqual([]);
    const l = new Cluster("local");
    l.cut.add("b.example").add("c.example");
    l.engine("a.example").submit("r1", body("one"));
    await l.settle();
    expect(l.acks.map((x) => x.request)).toEqual(["r1"]);
  });

  it("a planned transfer hands the tail over; the new authority continues at the next index in term 1", async () => {
    const c = new Cluster("majority");
    const a = c.engine("a.example");
    a.submit("r1", body("one"));
    a.submit("r2", body("two"));
    await c.run(100);
    expect(a.transfer("a.example")).toBe(false);
    expect(a.transfer("b.example")).toBe(true);
    expect(a.submit("r3", body("three"))).toEqual({
      kind: "refused",
      code: "TRANSFERRING",
      retryAfterMs: 200,
      term: 0n,
    });
    await c.run(200);
    const b = c.engine("b.example");
    expect(b.sequencing).toBe(true);
    expect(a.sequencing).toBe(false);
    expect(b.record).toMatchObject({ term: 1n, authority: "b.example" });
    expect(b.submit("r3", body("three"))).toMatchObject({ kind: "accepted", index: 3n, term: 1n });
    await c.run(200);
    for (const h of HUBS) {
      expect(c.log(h)).toEqual([
        "0:a.example:r1",
        "0:a.example:r2",
        "1:b.example:authority:1",
        "1:b.example:r3",
      ]);
    }
    expect(a.submit("r4", body("four"))).toMatchObject({
      code: "NOT_AUTHORITY",
      authority: "b.example",
    });
    const kinds = c.audits.map((x) => `${x.hub} ${x.kind}`);
    expect(kinds).toContain("a.example authority_proposal");
    expect(kinds).toContain("c.example authority_vote");
    expect(kinds).toContain("a.example authority_handed_over");
    expect(kinds).toContain("b.example authority_handover_received");
  });

  it("failover: a silent authority is replaced; back, it learns the higher term, stops, and its tail is discarded", async () => {
    const c = new Cluster("majority");
    const a = c.engine("a.example");
    a.submit("r1", body("one"));
    await c.run(100);
    c.cut.add("a.example");
    a.submit("lost", body("never replicated"));
    await c.run(3 * FAILOVER_MS);
    const successor = ["b.example", "c.example"].find((h) => c.engine(h).sequencing);
    expect(successor).toBeDefined();
    const s = c.engine(successor!);
    expect(s.record.term).toBeGreaterThanOrEqual(1n);
    expect(s.submit("r2", body("two"))).toMatchObject({ kind: "accepted" });
    c.cut.clear();
    await c.run(500);
    expect(a.sequencing).toBe(false);
    expect(c.audits).toContainEqual({ hub: "a.example", kind: "authority_deposed" });
    expect(c.audits).toContainEqual({ hub: "a.example", kind: "authority_tail_discarded" });
    expect(c.log("a.example")).toEqual(c.log(successor!));
    expect(c.log("a.example").some((e) => e.endsWith(":lost"))).toBe(false);
    expect(c.acks.map((x) => x.request)).not.toContain("lost");
  });

  it("a restarted hub keeps its vote and its place: it neither votes again nor forgets the term", async () => {
    const c = new Cluster("majority");
    c.engine("a.example").submit("r1", body("one"));
    await c.run(100);
    c.engine("a.example").transfer("c.example");
    await c.run(200);
    const before = c.engine("b.example").record;
    const restarted = c.start("b.example");
    expect(restarted.record).toEqual(before);
    expect(restarted.record.vote?.term).toBe(1n);
    const c2 = c.start("c.example");
    expect(c2.sequencing).toBe(true); // its log has the term's first entry
  });
});

describe("authority messages", () => {
  it("round-trip through their encoding", () => {
    const entry: LogEntry = {
      index: 4n,
      term: 2n,
      by: "a.example",
      request: "r",
      body: body("x"),
      sig: new Uint8Array(64).fill(1),
    };
    const ms: AuthorityMessage[] = [
      {
        t: "append",
        room: ROOM,
        term: 2n,
        prevLength: 4n,
        prevTerm: 1n,
        entries: [entry],
        commit: 3n,
        handover: { final: true },
      },
      { t: "appended", room: ROOM, term: 2n, ok: false, length: 2n },
      { t: "refuse", room: ROOM, term: 1n, code: "ALREADY_VOTED" },
      {
        t: "vote",
        room: ROOM,
        term: 1n,
        vote: { voter: "b.example", proposal: new Uint8Array(32), signature: new Uint8Array(64) },
      },
    ];
    for (const m of ms) expect(decodeAuthorityMessage(encodeAuthorityMessage(m))).toEqual(m);
  });

  it("refuse malformed bytes with StatementFormatError", () => {
    const bad = [
      new Uint8Array([0xff, 0x00]),
      encodeAuthorityMessage({ t: "appended", room: ROOM, term: 1n, ok: true, length: 1n }).slice(
        0,
        5,
      ),
      new TextEncoder().encode("not cbor at all"),
    ];
    for (const b of bad) expect(() => decodeAuthorityMessage(b)).toThrow(StatementFormatError);
  });
});
