/**
 * The federation world of real hubs and MLS clients (issue 18) inside the harness package:
 * the scenarios hold every invariant at a seed and replay to the same digests, the replica
 * canary is caught, and each check fires on the state it forbids (a check that cannot fail
 * would prove nothing).
 */
import { Offset, Opcode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import {
  checkFedSafety,
  FED_HUB_CANARIES,
  FED_HUB_SCENARIOS,
  FedHubWorld,
  fedHubGaps,
  fedHubScenarioByName,
  runFedHubScenario,
} from "../src/index.js";

const te = new TextEncoder();

describe.each(FED_HUB_SCENARIOS.map((s) => [s.name, s] as const))("real hubs %s", (_n, s) => {
  it("holds every invariant at seed 1, with writes acknowledged across hubs", async () => {
    const r = await runFedHubScenario({ scenario: s, seed: 1n });
    expect(r.violations.map((v) => `${v.invariant}: ${v.detail}`)).toEqual([]);
    expect(r.notes.acked ?? 0).toBeGreaterThan(0);
    expect(r.notes.hubs).toBeGreaterThanOrEqual(2);
  });
});

it("replays a seed to the same digests; another seed differs", async () => {
  const s = fedHubScenarioByName("fed_hubs")!;
  const a = await runFedHubScenario({ scenario: s, seed: 2n, keepTrace: true });
  const b = await runFedHubScenario({ scenario: s, seed: 2n });
  const c = await runFedHubScenario({ scenario: s, seed: 3n });
  expect(b.traceDigest).toBe(a.traceDigest);
  expect(b.stateDigest).toBe(a.stateDigest);
  expect(c.traceDigest).not.toBe(a.traceDigest);
  // The links came up through the shipped handshake; the removals were accepted.
  expect(a.trace?.some((l) => l.startsWith("link a.example–b.example up"))).toBe(true);
  expect((a.notes.removed ?? 0) + (a.notes.kicked ?? 0)).toBeGreaterThan(0);
});

describe.each(FED_HUB_CANARIES.map((c) => [c.name, c] as const))("canary %s", (name, c) => {
  it("is caught within seeds 1-3 of its scenarios", async () => {
    const caught: string[] = [];
    for (const scenario of c.scenarios) {
      for (const seed of [1n, 2n, 3n]) {
        const r = await runFedHubScenario({
          scenario: fedHubScenarioByName(scenario)!,
          seed,
          canaries: [name],
        });
        caught.push(...r.violations.map((v) => v.invariant));
        if (!r.ok) break;
      }
      if (caught.length > 0) break;
    }
    expect(caught.length).toBeGreaterThan(0);
    expect(caught).not.toContain("scenario_error");
  });
});

it("relays presence across hubs and bans what a hub relays (fed_hubs seed 1)", async () => {
  const r = await runFedHubScenario({ scenario: fedHubScenarioByName("fed_hubs")!, seed: 1n });
  expect(r.ok).toBe(true);
  expect(r.notes.ephemeral_across_hubs ?? 0).toBeGreaterThan(0);
  expect(r.notes.relay_bans).toBe(1);
});

/** Two hubs, alice@a's room with carol@b in it, on a perfect network. */
async function twoHubRoom(): Promise<{ w: FedHubWorld; room: bigint }> {
  const w = await FedHubWorld.create({ seed: 9n, hubs: 2, usersPerHub: 2 });
  await w.runFor(2000);
  await w.startClients();
  const room = await w.perform("create", () => w.api("alice@a.example").createRoom());
  await w.perform("add", () =>
    w.api("alice@a.example").addMembers(room, ["carol@b.example", "bob@a.example"]),
  );
  await w.runFor(10_000, () => w.api("carol@b.example").room(room)?.phase.kind === "synchronized");
  await w.perform("send", () => w.api("carol@b.example").send(room, te.encode("hello")));
  await w.runFor(2000);
  return { w, room };
}

describe("the checks of the world of real hubs", () => {
  it("pass on an honest room and report convergence", async () => {
    const { w, room } = await twoHubRoom();
    try {
      checkFedSafety(w, room, "a.example");
      expect(w.violations).toEqual([]);
      const members = ["alice@a.example", "bob@a.example", "carol@b.example"];
      expect(fedHubGaps(w, room, "a.example", members)).toBeUndefined();
      expect(fedHubGaps(w, room, "a.example", ["dave@b.example"])).toMatch(/dave@b.example/);
      expect(w.client("alice@a.example").delivered.get(room)?.size).toBe(1);
    } finally {
      await w.close();
    }
  });

  it("fire on a replica entry the authority does not hold, and on a client's forged frame", async () => {
    const { w, room } = await twoHubRoom();
    try {
      const b = w.hub("b.example").node;
      const head = b.lmdb!.nextIndex(room);
      // A copy of B's last entry at B's next position, made a PRESENCE: nothing the
      // authority holds there, and an ephemeral frame stored.
      const [last] = b.lmdb!.readRange(room, head - 1n, 1);
      const forged = last!.header.slice();
      new DataView(forged.buffer).setUint16(Offset.OPCODE, Opcode.PRESENCE);
      await w.perform("forge", () =>
        b.disk!.append([
          {
            roomId: room,
            logIndex: head,
            header: forged,
            payload: last!.payload ?? new Uint8Array(0),
            senderId: 0n,
            requestId: 1,
            response: new Uint8Array(0),
          },
        ]),
      );
      // And alice "received" another payload at a position she has.
      const seen = w.client("alice@a.example").seen;
      const [key, entry] = [...seen][0]!;
      seen.set(key, { ...entry, payload: "0".repeat(64) });
      checkFedSafety(w, room, "a.example");
      const fired = w.violations.map((v) => v.invariant);
      expect(fired).toContain("fed_no_fork");
      expect(fired).toContain("fed_log_prefix");
      expect(fired).toContain("ephemeral_never_stored");
    } finally {
      await w.close();
    }
  });

  it("fire when two hubs follow different authorities in one term", async () => {
    const { w, room } = await twoHubRoom();
    try {
      const a = w.hub("a.example").node.core!.federation!;
      await w.perform("learn", () => a.book.learn(room, "b.example", 0n));
      checkFedSafety(w, room, "a.example");
      expect(w.violations.map((v) => v.invariant)).toContain("fed_one_authority");
      // A hub following a hub that is not in the room at all.
      await w.perform("learn", () => a.book.learn(room, "z.example", 5n));
      checkFedSafety(w, room, "a.example");
      expect(w.violations.map((v) => v.detail)).toContainEqual(expect.stringMatching(/z.example/));
    } finally {
      await w.close();
    }
  });
});

describe("authority transfer and failover between real hubs", () => {
  it("moves the room by planned transfers under load (fed_hubs_transfer seed 1)", async () => {
    const r = await runFedHubScenario({
      scenario: fedHubScenarioByName("fed_hubs_transfer")!,
      seed: 1n,
    });
    expect(r.violations).toEqual([]);
    expect(r.notes.transfers_done ?? 0).toBeGreaterThan(0);
  });

  it("fails the room over when its authority goes away (fed_hubs_failover seed 2)", async () => {
    let term = -1n;
    const r = await runFedHubScenario({
      scenario: fedHubScenarioByName("fed_hubs_failover")!,
      seed: 2n,
      inspect: (w, room) => {
        for (const h of w.hubs.values()) {
          const s = h.node.core?.federation?.roomAuthority(room);
          if (s !== undefined && s.term > term) term = s.term;
        }
      },
    });
    expect(r.violations).toEqual([]);
    expect(term).toBeGreaterThan(0n);
  });
});
