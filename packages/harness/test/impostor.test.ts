/**
 * The identity and access machinery of the simulation (issue 12): the identity provider's
 * verdicts, the access ledger, each identity invariant firing on a planted violation, and
 * the attacks the hub does not refuse yet, each still caught by its invariant.
 */
import { createDeviceSigner, deriveSenderId } from "@kalandra/proto";
import { afterEach, describe, expect, it } from "vitest";
import {
  PENDING_ATTACKS,
  RoomAccess,
  runScenario,
  SeededRng,
  SimIdentity,
  sessionAttached,
  World,
} from "../src/index.js";

const key = (label: string) =>
  createDeviceSigner(new SeededRng(7n).fork(label).bytes(32)).publicKey;

describe("SimIdentity, the simulation's identity provider", () => {
  it("answers for the user a device was created for and refuses every other claim", async () => {
    const id = new SimIdentity();
    const alice = key("alice");
    const senderId = id.bind(alice, "alice");
    expect(senderId).toBe(deriveSenderId(alice));
    expect(id.ownerOf(senderId)).toBe("alice");
    const req = (deviceKey: Uint8Array, claimedUserId: string) =>
      id.authenticate({
        deviceKey,
        senderId: deriveSenderId(deviceKey),
        claimedUserId,
        nowSeconds: 0n,
      });
    expect(await req(alice, "alice")).toEqual({ ok: true, userId: "alice" });
    expect(await req(alice, "")).toEqual({ ok: true, userId: "alice" });
    expect(await req(alice, "bob")).toMatchObject({ ok: false, code: "FORBIDDEN" });
    expect(await req(key("ghost"), "alice")).toMatchObject({ ok: false, code: "UNAUTHENTICATED" });
    expect(id.verdicts.map((v) => v.verdict.ok)).toEqual([true, true, false, false]);
    expect(id.bind(alice, "alice")).toBe(senderId);
    expect(() => id.bind(alice, "bob")).toThrow(/already bound to alice/);
  });
});

describe("RoomAccess", () => {
  it("admits, revokes and opens rooms", () => {
    const a = new RoomAccess();
    expect(a.may(1n, "u1")).toBe(false);
    a.admit(1n, ["u1", "u2"]);
    expect([a.may(1n, "u1"), a.may(1n, "u2"), a.may(2n, "u1")]).toEqual([true, true, false]);
    a.revoke(1n, "u1");
    a.revoke(3n, "u1");
    expect(a.may(1n, "u1")).toBe(false);
    a.open(2n);
    expect(a.may(2n, "anyone")).toBe(true);
  });
});

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe("identity invariants on planted violations", () => {
  it("session_owner: a session attached as another user than its device's", async () => {
    const w = await World.create({ seed: 3n, clients: ["u0"] });
    world = w;
    await w.startClients();
    expect(w.violations).toEqual([]);
    const mallory = w.identity.bind(key("mallory"), "mallory");
    sessionAttached(w, mallory, "mallory");
    expect(w.violations).toEqual([]);
    sessionAttached(w, mallory, "u0");
    sessionAttached(w, deriveSenderId(key("ghost")), "u0");
    expect(w.violations.map((v) => [v.invariant, v.detail])).toEqual([
      ["session_owner", expect.stringMatching(/of mallory as u0$/)],
      ["session_owner", expect.stringMatching(/bound to no user as u0$/)],
    ]);
  });
});

/**
 * The attacks of the family that the hub does not refuse yet (issue 12: identity, rooms
 * and inbox parts), with the invariant that catches each. When a part lands and its
 * attack is refused, this test fails: move the scenario to IMPOSTOR_SCENARIOS
 * (src/impostor/index.ts), where CI runs it over every seed.
 */
const CAUGHT_BY: Record<string, string> = {
  kp_drain: "drained_user_added",
};

// Every attack of the family is refused now; the check stays for attacks added later.
describe.skipIf(PENDING_ATTACKS.length === 0)("attacks not refused yet", () => {
  it.each(PENDING_ATTACKS.map((s) => [s.name, s] as const))(
    "%s still succeeds and is caught",
    async (name, scenario) => {
      const r = await runScenario({ scenario, seed: 1n });
      const fired = new Set(r.violations.map((v) => v.invariant));
      expect(
        fired.has(CAUGHT_BY[name] ?? "?"),
        `${name} no longer fires ${CAUGHT_BY[name]} (${[...fired].join(", ") || "nothing"}): if the hub now refuses it, move it to IMPOSTOR_SCENARIOS`,
      ).toBe(true);
    },
  );
});
