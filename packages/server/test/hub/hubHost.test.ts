/** HubHost's own job: sessions, devices, routing of the core's targets, the device limit. */
import { createDeviceSigner, deriveSenderId, type Frame } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { type FrameCore, HubHost } from "../../src/hub/hubHost.js";
import type { Sink } from "../../src/vocabulary/target.js";
import { ManualTime } from "./harness.js";

class Recorder implements FrameCore {
  events: string[] = [];
  constructor(readonly sink: Sink) {}
  attachSession(sessionId: string, _key: Uint8Array, userId: string): void {
    this.events.push(`attach ${sessionId} ${userId}`);
  }
  detachSession(sessionId: string): void {
    this.events.push(`detach ${sessionId}`);
  }
  handleVerified(_sessionId: string, _frame: Frame): undefined {
    return undefined;
  }
}

const key = (n: number) => createDeviceSigner(new Uint8Array(32).fill(n)).publicKey;

async function host(rate = 1, burst = 2) {
  const time = new ManualTime();
  const h = await HubHost.open(
    { clock: time, limits: { deviceRatePerSec: rate, deviceBurst: burst } },
    (sink) => new Recorder(sink),
  );
  const got = new Map<string, number[]>();
  const connect = (id: string) =>
    h.connect(id, { deliver: (f) => got.set(id, [...(got.get(id) ?? []), f[0] ?? -1]) });
  return { h, time, got, connect };
}

describe("HubHost", () => {
  it("routes session, device and members targets to the sessions of each device", async () => {
    const { h, got, connect } = await host();
    for (const id of ["a1", "a2", "b1", "x"]) connect(id);
    h.attachSession("a1", key(1), "alice");
    h.attachSession("a2", key(1), "alice");
    h.attachSession("b1", key(2), "bob");
    const alice = deriveSenderId(key(1));
    const bob = deriveSenderId(key(2));
    expect(h.sessionsOf(alice)).toEqual(["a1", "a2"]);
    h.route({ kind: "session", sessionId: "x" }, Uint8Array.of(1));
    h.route({ kind: "device", senderId: alice }, Uint8Array.of(2));
    h.route({ kind: "members", roomId: 1n, senderIds: [alice, bob, 99n] }, Uint8Array.of(3));
    expect(Object.fromEntries(got)).toEqual({ x: [1], a1: [2, 3], a2: [2, 3], b1: [3] });
    // A closed session gets nothing more and is detached from the core once.
    h.disconnect("a1");
    h.disconnect("a1");
    h.route({ kind: "device", senderId: alice }, Uint8Array.of(4));
    expect(got.get("a1")).toEqual([2, 3]);
    expect(got.get("a2")).toEqual([2, 3, 4]);
    expect(h.core.events).toEqual([
      "attach a1 alice",
      "attach a2 alice",
      "attach b1 bob",
      "detach a1",
    ]);
    expect(h.size).toBe(3);
  });

  it("lets the core take a target first (federation), and routes replicas targets to no session", async () => {
    const time = new ManualTime();
    const taken: string[] = [];
    const h = await HubHost.open(
      { clock: time, limits: { deviceRatePerSec: 1, deviceBurst: 2 } },
      (sink) =>
        Object.assign(new Recorder(sink), {
          intercept: (t: { kind: string }) => {
            taken.push(t.kind);
            return t.kind === "device";
          },
        }),
    );
    const got: number[] = [];
    h.connect("a1", { deliver: (f) => got.push(f[0] ?? -1) });
    h.attachSession("a1", key(1), "alice");
    const alice = deriveSenderId(key(1));
    h.route({ kind: "device", senderId: alice }, Uint8Array.of(1));
    h.route({ kind: "session", sessionId: "a1" }, Uint8Array.of(2));
    h.route({ kind: "replicas", roomId: 1n, logIndex: 0n, peers: [] }, Uint8Array.of(3));
    expect(got).toEqual([2]);
    expect(taken).toEqual(["device", "session", "replicas"]);
  });

  it("shares one rate limit among a device's sessions and applies a reload", async () => {
    const { h, time, connect } = await host(1, 2);
    connect("a1");
    connect("a2");
    h.attachSession("a1", key(1), "alice");
    h.attachSession("a2", key(1), "alice");
    const alice = deriveSenderId(key(1));
    expect(h.deviceBucket(alice)).toBe(h.deviceBucket(alice));
    expect(h.deviceBucket(alice).take()).toBe(true);
    expect(h.deviceBucket(alice).take()).toBe(true);
    expect(h.deviceBucket(alice).take()).toBe(false);
    time.advance(1000);
    expect(h.deviceBucket(alice).take()).toBe(true);
    h.reconfigure({ deviceRatePerSec: 1000, deviceBurst: 1000 });
    time.advance(1000);
    for (let i = 0; i < 1000; i++) expect(h.deviceBucket(alice).take()).toBe(true);
    // The last session gone, the device's bucket goes with it.
    h.disconnect("a1");
    h.disconnect("a2");
    expect(h.sessionsOf(alice)).toEqual([]);
  });
});
