/**
 * The harness over the real cores: every scenario runs clean and replays identically, a
 * planted bug is caught and its fault plan shrinks, and the simulated disk loses exactly
 * what a power loss loses.
 */
import { describe, expect, it } from "vitest";
import {
  CANARIES,
  checkSafety,
  NO_FAULTS,
  planArbitrary,
  planFor,
  planSpec,
  propose5,
  replayCommand,
  runScenario,
  SCENARIOS,
  scenarioByName,
  shrinkSeed,
  swarmScenario,
  toRegression,
  World,
} from "../src/index.js";

describe("scenarios", () => {
  it.each(SCENARIOS.map((s) => [s.name, s] as const))(
    "%s holds its invariants and replays",
    async (_n, s) => {
      const a = await runScenario({ scenario: s, seed: 11n, keepTrace: true });
      expect(a.violations).toEqual([]);
      expect(a.trace?.length).toBeGreaterThan(10);
      const b = await runScenario({ scenario: s, seed: 11n });
      expect(b.traceDigest).toBe(a.traceDigest);
      expect(b.stateDigest).toBe(a.stateDigest);
    },
  );

  it("names scenarios, picks swarm scenarios from the seed, and prints replay commands", () => {
    expect(scenarioByName("chat10_slow").chaosMs).toBe(300_000);
    expect(() => scenarioByName("nope")).toThrow(RangeError);
    expect(swarmScenario(2n).name).toBe(SCENARIOS[2]?.name);
    expect(replayCommand({ seed: "5", scenario: "chat10", canaries: ["a", "b"] })).toBe(
      "pnpm sim --seed 5 --scenario chat10 --canary a,b",
    );
    expect(planFor(planSpec(propose5), 3n)).toEqual(planFor(planSpec(propose5), 3n));
    expect(CANARIES.length).toBeGreaterThanOrEqual(10);
  });
});

describe("canaries and shrinking", () => {
  it("catches a planted bug and shrinks its fault plan to a saved regression", async () => {
    const s = await shrinkSeed({
      scenario: propose5,
      seed: 1n,
      canaries: ["log_index_off_by_one"],
      timeLimitMs: 150_000,
    });
    expect(s).toBeDefined();
    expect(s?.result.ok).toBe(false);
    expect(s?.result.violations.map((v) => v.invariant)).toContain("log_shape");
    expect(s?.plan.events.length).toBe(0);
    const reg = toRegression(s!.result, "planted");
    expect(reg.canaries).toEqual(["log_index_off_by_one"]);
    expect(await shrinkSeed({ scenario: propose5, seed: 1n, timeLimitMs: 60_000 })).toBeUndefined();
    // The shrink gets 150 s (at load 30 on the 2-core machine 60 s were not enough to
    // reach the empty plan), the check that the seed passes without the canary 60 s: the
    // test's own timeout must cover both.
  }, 300_000);

  it("draws plans within the scenario's limits", async () => {
    const fc = (await import("fast-check")).default;
    const spec = {
      chaosMs: 1000,
      clients: 3,
      kinds: ["network", "hubCrash", "clientCrash", "partition", "replayOld"] as const,
      protect: [0],
      maxLoss: 0.2,
    };
    for (const p of fc.sample(planArbitrary(spec), { seed: 4, numRuns: 50 })) {
      expect(p.loss).toBeLessThanOrEqual(0.2);
      for (const e of p.events) {
        expect(e.at).toBeLessThan(1000);
        if ("client" in e) expect(e.client).not.toBe(0);
      }
    }
  });
});

describe("world faults", () => {
  it("loses un-fsynced writes on a hub crash, keeps fsynced ones, and reconnects clients", async () => {
    const w = await World.create({ seed: 5n, clients: ["u0", "u1"] });
    try {
      await w.startClients();
      const room = await w.perform("create", () => w.api("u0").createRoom());
      w.access.admit(room, ["u1"]);
      await w.perform("add", () => w.api("u0").addMembers(room, ["u1"]));
      await w.runFor(
        10_000,
        () => w.client("u1").client?.room(room)?.phase.kind === "synchronized",
      );
      const disk = w.hub.disk!;
      expect(disk.fsyncs).toBeGreaterThan(0);
      // A message reaches the hub; the power goes before its fsync.
      let acked = false;
      w.appendObservers.push(() => {
        w.at(0, "crash", () => w.crashHub(0, 500));
      });
      w.fire(
        "send",
        () => w.api("u1").send(room, new TextEncoder().encode("u1:0")),
        (ok) => {
          acked = ok;
        },
      );
      await w.runFor(200);
      expect(w.hub.up).toBe(false);
      expect(acked).toBe(false);
      w.appendObservers.length = 0;
      await w.runFor(20_000, () => acked);
      expect(acked).toBe(true);
      expect(checkSafety(w, room)).toBe(0);
      // Partitions: one way, then undone.
      w.network.partition(["u1"], ["hub"], false);
      w.network.unpartition(["u1"], ["hub"], false);
      w.crashClient("u1", 100);
      await w.runFor(5000);
      expect(w.client("u1").client?.room(room)?.phase.kind).toBe("synchronized");
      expect(w.violations).toEqual([]);
      expect(w.skewOf("u0")).toBe(0);
    } finally {
      await w.close();
    }
  });

  it("records a scenario error instead of throwing", async () => {
    const broken = {
      ...propose5,
      name: "broken",
      setup: async () => {
        throw new Error("boom");
      },
    };
    const r = await runScenario({ scenario: broken, seed: 1n, plan: NO_FAULTS });
    expect(r.ok).toBe(false);
    expect(r.violations[0]?.invariant).toBe("scenario_error");
  });
});
