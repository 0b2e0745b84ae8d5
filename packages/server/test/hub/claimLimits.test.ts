/**
 * Key-package claims are rate-limited per claimer and per target (issue 12): a drain is
 * slow and refused with CLAIM_RATE_LIMITED, while other claimers and other targets go on.
 */
import { Opcode } from "@kalandra/proto";
import { ManualTime } from "@kalandra/test-support";
import { describe, expect, it } from "vitest";
import { ClaimRateLimiter } from "../../src/hub/claimLimits.js";
import { errorName, frameOf, makeClient, makeEnv, send } from "./harness.js";

const limits = { kpClaimsPerMinPerClaimer: 5, kpClaimsPerMinPerTarget: 3 };

describe("ClaimRateLimiter", () => {
  it("refuses a target's claims past its rate, whoever claims, and refills over time", () => {
    const time = new ManualTime();
    const l = new ClaimRateLimiter(time, limits);
    expect(l.admit("m1", "bob")).toBeUndefined();
    expect(l.admit("m2", "bob")).toBeUndefined();
    expect(l.admit("m3", "bob")).toBeUndefined();
    expect(l.admit("m4", "bob")?.code).toBe("CLAIM_RATE_LIMITED");
    expect(l.admit("m4", "carol")).toBeUndefined(); // another target is not affected
    time.advance(20_000); // 3 per minute: one token back
    expect(l.admit("m4", "bob")).toBeUndefined();
    expect(l.admit("m4", "bob")?.message).toContain("of bob");
  });

  it("refuses a claimer past its rate over every target; a refused claim still costs it", () => {
    const time = new ManualTime();
    const l = new ClaimRateLimiter(time, limits);
    for (const t of ["a", "b", "c", "d", "e"]) expect(l.admit("mallory", t)).toBeUndefined();
    expect(l.admit("mallory", "f")?.message).toContain("per claimer");
    expect(l.admit("alice", "f")).toBeUndefined();
    l.reconfigure({ kpClaimsPerMinPerClaimer: 60, kpClaimsPerMinPerTarget: 3 });
    time.advance(1000);
    expect(l.admit("mallory", "f")).toBeUndefined();
  });

  it("forgets full buckets once it tracks many users", () => {
    const time = new ManualTime();
    const l = new ClaimRateLimiter(time, {
      kpClaimsPerMinPerClaimer: 1,
      kpClaimsPerMinPerTarget: 1,
    });
    for (let i = 0; i < 10_000; i++) l.admit(`c${i}`, `t${i}`);
    expect(l.admit("c0", "t0")?.code).toBe("CLAIM_RATE_LIMITED"); // still tracked, still empty
    time.advance(60_000);
    l.admit("new", "new-target"); // prunes the refilled buckets
    expect(l.admit("c1", "t1")).toBeUndefined();
  });
});

describe("KP_CLAIM rate limits through the hub", () => {
  it("answers CLAIM_RATE_LIMITED past the per-target rate; a bystander's claims go on", async () => {
    const env = await makeEnv({ limits });
    const mallory = await makeClient(env, "mallory");
    const alice = await makeClient(env, "alice");
    const names: (string | undefined)[] = [];
    for (let i = 0; i < 4; i++) {
      const a = await send(
        env,
        mallory,
        frameOf(mallory, Opcode.KP_CLAIM, 0n, 0n, { user_id: "bob" }),
      );
      names.push(errorName(a));
    }
    // Bob has no packages: the admitted claims are NO_KEY_PACKAGE, the fourth is limited.
    expect(names).toEqual([
      "NO_KEY_PACKAGE",
      "NO_KEY_PACKAGE",
      "NO_KEY_PACKAGE",
      "CLAIM_RATE_LIMITED",
    ]);
    const other = await send(
      env,
      alice,
      frameOf(alice, Opcode.KP_CLAIM, 0n, 0n, { user_id: "carol" }),
    );
    expect(errorName(other)).toBe("NO_KEY_PACKAGE");
  });
});
