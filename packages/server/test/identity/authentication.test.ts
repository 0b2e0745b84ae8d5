/**
 * Who a device speaks for (identity/authentication.ts): the rules in order, over the
 * in-memory storage's device registry, with a stand-in authenticator for a method that
 * proves a user.
 */
import { generateDeviceKey } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { Authentication } from "../../src/identity/authentication.js";
import type { Authenticator, AuthRequest } from "../../src/identity/authenticator.js";
import { devAuthenticator } from "../../src/identity/devAuthenticator.js";
import { qualifiedUserId, userIdProblem } from "../../src/identity/userId.js";
import { MemoryStorage } from "../../src/storage/memoryStorage.js";

let seed = 0;
const rng = { bytes: (n: number) => new Uint8Array(n).fill(++seed) };

function req(claimedUserId: string, extra: Partial<AuthRequest> = {}): AuthRequest {
  const key = generateDeviceKey(rng);
  return {
    deviceKey: key.publicKey,
    senderId: key.senderId,
    claimedUserId,
    nowSeconds: 100n,
    ...extra,
  };
}

/** "token" proves the user named in the credential, as `name@hub`. */
const tokens: Authenticator = {
  method: "token",
  async authenticate(r) {
    const name = new TextDecoder().decode(r.credential);
    return name === "bad"
      ? { ok: false, code: "AUTH_FAILED", message: "bad token" }
      : { ok: true, userId: `${name}@hub` };
  },
};

const throwing: Authenticator = {
  method: "broken",
  authenticate: () => Promise.reject(new Error("down")),
};

function make(authenticators: Authenticator[], max = 3) {
  const storage = new MemoryStorage();
  return { storage, auth: new Authentication({ storage, authenticators, maxDevicesPerUser: max }) };
}

const token = (name: string) => ({ method: "token", credential: new TextEncoder().encode(name) });

describe("Authentication", () => {
  it("a refusal before binding binds nothing, and is asked with the authenticated user", async () => {
    const { auth, storage } = make([tokens]);
    const asked: string[] = [];
    const dave = req("whoever", {
      ...token("dave"),
      beforeBind: (userId) => {
        asked.push(userId);
        return { ok: false, code: "TOO_MANY_CONNECTIONS", message: "full" };
      },
    });
    expect(await auth.authenticate(dave)).toEqual({
      ok: false,
      code: "TOO_MANY_CONNECTIONS",
      message: "full",
    });
    expect(asked).toEqual(["dave@hub"]);
    expect(storage.getDevice(dave.senderId)).toBeUndefined();
    const { beforeBind: _b, ...admitted } = dave;
    expect(await auth.authenticate({ ...admitted, beforeBind: () => undefined })).toEqual({
      ok: true,
      userId: "dave@hub",
    });
    expect(storage.getDevice(dave.senderId)?.userId).toBe("dave@hub");
  });

  it("a device bound by an every-session method presents its credential on every session", async () => {
    const everySession: Authenticator = { ...tokens, everySession: true };
    const { auth, storage } = make([everySession, devAuthenticator]);
    const carol = req("carol", token("carol"));
    expect(await auth.authenticate(carol)).toEqual({ ok: true, userId: "carol@hub" });
    expect(storage.getDevice(carol.senderId)?.boundBy).toBe("token");
    // By its key alone (no token): refused, where an enrollment- or dev-bound key would pass.
    const { method: _m, credential: _c, ...keyOnly } = carol;
    expect(await auth.authenticate(keyOnly)).toMatchObject({ ok: false, code: "AUTH_FAILED" });
    expect(await auth.authenticate(carol)).toEqual({ ok: true, userId: "carol@hub" });
    // A dev-bound device still authenticates by its key alone.
    const dave = req("dave");
    expect(await auth.authenticate(dave)).toEqual({ ok: true, userId: "dave" });
    expect(await auth.authenticate(dave)).toEqual({ ok: true, userId: "dave" });
  });

  it("dev: the claimed name, bound to the device for good", async () => {
    const { auth, storage } = make([devAuthenticator]);
    expect(auth.selfNamed).toBe(true);
    const bob = req("bob");
    expect(await auth.authenticate(bob)).toEqual({ ok: true, userId: "bob" });
    expect(storage.getDevice(bob.senderId)?.userId).toBe("bob");
    // The same key claiming alice: refused, in dev mode too.
    expect(await auth.authenticate({ ...bob, claimedUserId: "alice" })).toMatchObject({
      ok: false,
      code: "DEVICE_TAKEN",
    });
    expect(await auth.authenticate(bob)).toEqual({ ok: true, userId: "bob" });
  });

  it("without dev, HELLO must present a method this hub answers; the claim grants nothing", async () => {
    const { auth } = make([tokens]);
    expect(auth.selfNamed).toBe(false);
    expect(await auth.authenticate(req("mod"))).toMatchObject({ ok: false, code: "AUTH_FAILED" });
    expect(await auth.authenticate(req("mod", { method: "dev" }))).toMatchObject({
      code: "UNKNOWN_AUTH_METHOD",
    });
    expect(await auth.authenticate(req("mod", token("bad")))).toMatchObject({
      code: "AUTH_FAILED",
    });
    // The authenticator's user, whatever HELLO claimed.
    expect(await auth.authenticate(req("mod", token("eve")))).toEqual({
      ok: true,
      userId: "eve@hub",
    });
  });

  it("a bound device authenticates by its key alone, as its own user only", async () => {
    const { auth } = make([tokens]);
    const alice = req("alice@hub", token("alice"));
    expect(await auth.authenticate(alice)).toEqual({ ok: true, userId: "alice@hub" });
    const bare = { ...alice, method: undefined, credential: undefined };
    expect(await auth.authenticate(bare)).toEqual({ ok: true, userId: "alice@hub" });
    expect(await auth.authenticate({ ...bare, claimedUserId: "mod@hub" })).toMatchObject({
      code: "DEVICE_TAKEN",
    });
    // A token for another user does not move the device either.
    expect(await auth.authenticate({ ...alice, ...token("bob") })).toMatchObject({
      code: "DEVICE_TAKEN",
    });
  });

  it("caps active devices per user; a revoked device never comes back and frees its place", async () => {
    const { auth, storage } = make([devAuthenticator], 2);
    const a = req("alice");
    const b = req("alice");
    expect((await auth.authenticate(a)).ok).toBe(true);
    expect((await auth.authenticate(b)).ok).toBe(true);
    expect(await auth.authenticate(req("alice"))).toMatchObject({ code: "TOO_MANY_DEVICES" });
    await storage.revokeDevice(a.senderId, 5n);
    expect(await auth.authenticate(a)).toMatchObject({ code: "DEVICE_REVOKED" });
    expect((await auth.authenticate(req("alice"))).ok).toBe(true);
  });

  it("refuses user ids that are empty, huge or not printable, without quoting them", async () => {
    const { auth } = make([devAuthenticator]);
    const huge = "x".repeat(1 << 20);
    const v = await auth.authenticate(req(huge));
    expect(v).toMatchObject({ ok: false, code: "INVALID_USER_ID" });
    expect(JSON.stringify(v).length).toBeLessThan(200);
    for (const bad of ["", "a b", "al\u0000ice", "\u202eadmin", "a\u200db"]) {
      expect(await auth.authenticate(req(bad)), JSON.stringify(bad)).toMatchObject({
        code: "INVALID_USER_ID",
      });
    }
  });

  it("an authenticator that throws is AUTH_FAILED", async () => {
    const { auth } = make([throwing]);
    expect(await auth.authenticate(req("x", { method: "broken" }))).toMatchObject({
      code: "AUTH_FAILED",
    });
  });
});

describe("user ids", () => {
  it("printable and bounded; qualified by the hub's domain", () => {
    expect(userIdProblem("alice")).toBeUndefined();
    expect(userIdProblem("zoë@example.org")).toBeUndefined();
    expect(userIdProblem("a".repeat(256))).toBeUndefined();
    expect(userIdProblem("a".repeat(257))).toMatch(/longer/);
    expect(userIdProblem("é".repeat(129))).toMatch(/longer/);
    expect(userIdProblem("tab\there")).toMatch(/spaces/);
    expect(qualifiedUserId("alice", "hub.example")).toBe("alice@hub.example");
    expect(qualifiedUserId("alice@hub.example", "hub.example")).toBe("alice@hub.example");
  });
});
