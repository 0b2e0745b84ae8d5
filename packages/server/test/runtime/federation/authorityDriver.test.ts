/**
 * The authority driver (runtime/node/federation/authorityDriver.ts) on a manual clock: the
 * core ticks every 100 ms, rooms are sampled into bounded-label metrics every second,
 * authority gained and lost are counted once per change, a failing tick does not stop it.
 */
import { ManualTime } from "@kalandra/test-support";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { RoomAuthorityStatus } from "../../../src/federation/transferTypes.js";
import {
  type AuthorityCore,
  AuthorityDriver,
  createAuthorityMetrics,
} from "../../../src/runtime/node/federation/authorityDriver.js";

class FakeCore implements AuthorityCore {
  readonly domain = "a.example";
  ticks = 0;
  failNext = false;
  readonly rooms = new Map<bigint, RoomAuthorityStatus>();
  tick(): void {
    this.ticks++;
    if (this.failNext) {
      this.failNext = false;
      throw new Error("boom");
    }
  }
  roomAuthority(roomId: bigint) {
    return this.rooms.get(roomId);
  }
  federatedRooms() {
    return this.rooms.keys();
  }
}

const status = (authority: string, term: bigint, role: RoomAuthorityStatus["role"]) => ({
  authority,
  term,
  role,
  commitIndex: 0n,
});

async function value(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) =>
    Object.entries(labels).every(([k, l]) => (x.labels as Record<string, unknown>)[k] === l),
  );
  return v?.value;
}

describe("AuthorityDriver", () => {
  it("ticks the core, samples roles and terms, counts authority changes once each", async () => {
    const time = new ManualTime();
    const core = new FakeCore();
    const registry = new Registry();
    const driver = new AuthorityDriver({
      core,
      timers: time,
      metrics: createAuthorityMetrics(registry),
    });
    core.rooms.set(1n, status("a.example", 0n, "sequencer"));
    core.rooms.set(2n, status("b.example", 3n, "replica"));
    driver.start();
    time.advance(1000);
    expect(core.ticks).toBe(10);
    expect(await value(registry, "kalandra_federation_rooms", { role: "sequencer" })).toBe(1);
    expect(await value(registry, "kalandra_federation_rooms", { role: "replica" })).toBe(1);
    expect(await value(registry, "kalandra_federation_rooms", { role: "handing_over" })).toBe(0);
    expect(await value(registry, "kalandra_federation_room_term_max")).toBe(3);

    // Room 1 moves to b (a transfer), room 2 comes here (a failover): one change each; room 3
    // is first seen already sequenced here in term 2 (gained before the book knew it); room 4
    // was created here (term 0): no change.
    core.rooms.set(1n, status("b.example", 1n, "replica"));
    core.rooms.set(2n, status("a.example", 4n, "sequencer"));
    core.rooms.set(3n, status("a.example", 2n, "sequencer"));
    core.rooms.set(4n, status("a.example", 0n, "sequencer"));
    core.failNext = true; // a failing tick is logged, the driver goes on
    time.advance(3000);
    expect(core.ticks).toBe(40);
    expect(
      await value(registry, "kalandra_federation_authority_changes_total", { change: "lost" }),
    ).toBe(1);
    expect(
      await value(registry, "kalandra_federation_authority_changes_total", { change: "gained" }),
    ).toBe(2);
    expect(await value(registry, "kalandra_federation_room_term_max")).toBe(4);

    driver.stop();
    time.advance(1000);
    expect(core.ticks).toBe(40);
  });
});
