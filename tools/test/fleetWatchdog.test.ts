/**
 * The idle fleet's watchdog (loadgen/fleetWatchdog.ts): a load process that falls silent
 * (its event loop blocked, as Node's key-generation deadlock left one) or never reports
 * fails the fleet with a message naming it, instead of the bench waiting forever.
 */
import { describe, expect, it } from "vitest";
import { REPORT_GRACE_MS, STUCK_MS, Watchdog } from "../loadgen/fleetWatchdog.js";

function watched(deadline?: number) {
  const failures: { p: number; message: string }[] = [];
  const dog = new Watchdog(deadline === undefined ? {} : { deadline });
  for (const p of [0, 1])
    dog.watch(p, { pid: 100 + p }, (e) => failures.push({ p, message: e.message }), 0);
  return { dog, failures };
}

describe("fleet watchdog", () => {
  it("fails a process silent for STUCK_MS, not one that keeps reporting", () => {
    const { dog, failures } = watched();
    for (let t = 10_000; t < STUCK_MS + 20_000; t += 10_000) {
      dog.heard(1, t / 10, t); // process 1 reports every 10 s, process 0 never
      dog.check(t);
    }
    expect(failures).toHaveLength(1);
    expect(failures[0]?.p).toBe(0);
    expect(failures[0]?.message).toMatch(/idle load process 0 \(pid 100\) stuck: silent for 60 s/);
  });

  it("names what the process had opened", () => {
    const { dog, failures } = watched();
    dog.heard(0, 14_000, 1000);
    dog.check(1000 + STUCK_MS);
    expect(failures.map((f) => f.message).join()).toContain("opened ≥ 14000 sessions");
  });

  it("fails a process with no report REPORT_GRACE_MS after the deadline, even while it talks", () => {
    const { dog, failures } = watched(50_000);
    dog.done(1); // reported
    const t = 50_000 + REPORT_GRACE_MS + 1;
    dog.heard(0, 10, t);
    dog.check(t - 2);
    expect(failures).toHaveLength(0);
    dog.check(t);
    expect(failures.map((f) => f.p)).toEqual([0]);
    expect(failures[0]?.message).toContain("no report 90 s after the open deadline");
  });

  it("fails each process once and stops watching it", () => {
    const { dog, failures } = watched();
    dog.check(STUCK_MS);
    dog.check(2 * STUCK_MS);
    expect(failures.map((f) => f.p).sort()).toEqual([0, 1]);
  });
});
