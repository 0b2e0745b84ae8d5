/**
 * Readiness as named checks (readiness.ts, readinessChecks.ts): every check reported, the
 * failing ones named; a throwing or silent check fails alone; cached probes run at most once
 * per interval whatever the request rate; the storage probe on real directories; the peer
 * link check over a fake link source (federation will feed the real one, issue 18).
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@kalandra/test-support";
import { afterAll, describe, expect, it } from "vitest";
import { type PeerLinkSource, PeerLinks } from "../../src/runtime/node/peerLinks.js";
import { cached, evaluateReadiness } from "../../src/runtime/node/readiness.js";
import {
  drainingCheck,
  PROBE_FILE,
  peerLinksCheck,
  probeWritable,
  shardsCheck,
  storageCheck,
} from "../../src/runtime/node/readinessChecks.js";

const tmp = tempDir("readiness");
afterAll(() => tmp.cleanup());

describe("evaluateReadiness", () => {
  it("reports every check and names the failing ones in order", async () => {
    const r = await evaluateReadiness(
      [
        { name: "a", run: () => ({ ok: true }) },
        { name: "b", run: async () => ({ ok: false, reason: "b is off" }) },
        {
          name: "c",
          run: () => {
            throw new Error("c blew up");
          },
        },
        { name: "d", run: () => new Promise(() => undefined) }, // never answers
      ],
      50,
    );
    expect(r).toEqual({
      ready: false,
      failing: ["b", "c", "d"],
      checks: {
        a: { ok: true },
        b: { ok: false, reason: "b is off" },
        c: { ok: false, reason: "c blew up" },
        d: { ok: false, reason: "no answer within 50 ms" },
      },
    });
  }, 1000);

  it("is ready when every check passes (and with no check at all)", async () => {
    expect(await evaluateReadiness([drainingCheck(() => true)])).toEqual({
      ready: true,
      failing: [],
      checks: { draining: { ok: true } },
    });
    expect((await evaluateReadiness([])).ready).toBe(true);
  });
});

describe("cached", () => {
  it("runs the probe once per interval, concurrent callers sharing the run", async () => {
    let t = 0;
    let runs = 0;
    const probe = cached(
      {
        name: "p",
        run: async () => {
          runs++;
          return runs % 2 === 1 ? { ok: true } : { ok: false, reason: `run ${runs}` };
        },
      },
      1000,
      () => t,
    );
    const answers = await Promise.all(Array.from({ length: 50 }, () => probe.run()));
    expect(runs).toBe(1);
    expect(answers.every((a) => a.ok)).toBe(true);
    t = 999;
    await probe.run();
    expect(runs).toBe(1);
    t = 1000;
    expect(await probe.run()).toEqual({ ok: false, reason: "run 2" });
    expect(runs).toBe(2);
  });
});

describe("storageCheck", () => {
  it("takes a synced write in every directory and leaves nothing behind", async () => {
    const a = join(tmp.path, "a");
    const b = join(tmp.path, "b");
    mkdirSync(a);
    mkdirSync(b);
    const check = storageCheck([
      { label: "data", path: a },
      { label: "shard-0", path: b },
    ]);
    expect(await check.run()).toEqual({ ok: true });
    expect(existsSync(join(a, PROBE_FILE))).toBe(false);
    expect(existsSync(join(b, PROBE_FILE))).toBe(false);
  });

  it("names each directory that refuses, by label and error code, not by path", async () => {
    const good = join(tmp.path, "good");
    mkdirSync(good);
    const check = storageCheck([
      { label: "data", path: good },
      { label: "shard-0", path: join(tmp.path, "gone") },
      { label: "shard-1", path: join(tmp.path, "also-gone") },
    ]);
    const full = storageCheck([{ label: "shard-1", path: "/x" }], async () => {
      throw Object.assign(new Error("no space left on device, write"), { code: "ENOSPC" });
    });
    const r = await check.run();
    expect(r).toEqual({ ok: false, reason: "not writable: shard-0: ENOENT, shard-1: ENOENT" });
    expect(await full.run()).toEqual({ ok: false, reason: "not writable: shard-1: ENOSPC" });
    await expect(probeWritable(join(tmp.path, "gone"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("shardsCheck", () => {
  it("names each shard that stopped or did not answer", async () => {
    let live = [
      { index: 0, ok: true },
      { index: 1, ok: true },
    ] as { index: number; ok: boolean; reason?: string }[];
    const asked: number[] = [];
    const check = shardsCheck(
      {
        liveness: async (ms) => {
          asked.push(ms);
          return live;
        },
      },
      250,
    );
    expect(await check.run()).toEqual({ ok: true });
    live = [
      { index: 0, ok: false, reason: "stopped: out of memory" },
      { index: 1, ok: false, reason: "did not answer within 250 ms" },
    ];
    expect(await check.run()).toEqual({
      ok: false,
      reason: "shard 0 stopped: out of memory, shard 1 did not answer within 250 ms",
    });
    expect(asked).toEqual([250, 250]);
  });
});

describe("peerLinksCheck", () => {
  it("passes with no required peer, fails while a required link is not up", () => {
    const links = new PeerLinks();
    let required: string[] = [];
    const check = peerLinksCheck(() => required, links);
    expect(check.run()).toEqual({ ok: true });
    required = ["beta", "gamma"];
    expect(check.run()).toEqual({
      ok: false,
      reason: "required peer links down: beta not connected, gamma not connected",
    });
    links.report("beta", "up");
    links.report("gamma", "down");
    expect(check.run()).toEqual({ ok: false, reason: "required peer links down: gamma down" });
    links.report("gamma", "up");
    expect(check.run()).toEqual({ ok: true });
    links.report("beta", "down");
    expect(check.run()).toEqual({ ok: false, reason: "required peer links down: beta down" });
  });

  it("reads any source federation may provide", () => {
    const fake: PeerLinkSource = { state: (peer) => (peer === "up.example" ? "up" : undefined) };
    expect(peerLinksCheck(() => ["up.example"], fake).run()).toEqual({ ok: true });
    expect(peerLinksCheck(() => ["x"], fake).run()).toMatchObject({ ok: false });
  });
});
