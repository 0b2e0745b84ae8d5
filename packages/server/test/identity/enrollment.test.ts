/**
 * Enrollment codes, device links and the identity admin routes over the in-memory storage
 * (the security suite replays the same attacks against a real kalandrad).
 */
import {
  encodeFrame,
  encodePayload,
  generateDeviceKey,
  Opcode,
  signDeviceLink,
} from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { defaultConfig } from "../../src/config/schema.js";
import { type IdentityAdmin, identityRoute } from "../../src/identity/adminRoutes.js";
import type { AuthRequest } from "../../src/identity/authenticator.js";
import { DeviceRegistry } from "../../src/identity/devices.js";
import { Enrollment } from "../../src/identity/enrollment.js";
import { buildAuthentication } from "../../src/runtime/node/authMethods.js";
import { MemoryStorage } from "../../src/storage/memoryStorage.js";
import { errorName, ManualTime, makeClient, makeEnv, send } from "../hub/harness.js";

let seed = 0;
const rng = { bytes: (n: number) => new Uint8Array(n).fill(++seed) };
const utf8 = (s: string) => new TextEncoder().encode(s);

async function setup() {
  const storage = new MemoryStorage();
  const time = new ManualTime();
  time.advance(1_700_000_000_000);
  const config = defaultConfig();
  config.auth.methods = ["enrollment"];
  config.auth.enrollment_code_ttl_s = 60;
  const auth = await buildAuthentication({ config, storage, clock: time, rng });
  const enrollment = new Enrollment({
    storage,
    clock: time,
    rng: { bytes: (n) => new Uint8Array(n).map((_, i) => i * 37 + seed++) },
    domain: "hub.example",
    codeTtlSeconds: 60,
  });
  const now = () => time.now() / 1000n;
  const hello = (key = generateDeviceKey(rng), claimed = "x", extra: Partial<AuthRequest> = {}) =>
    auth.authenticate({
      deviceKey: key.publicKey,
      senderId: key.senderId,
      claimedUserId: claimed,
      nowSeconds: now(),
      ...extra,
    });
  return { storage, time, auth, enrollment, hello, now };
}

describe("enrollment", () => {
  it("issues a one-time code for name@domain; the code is good once and until it expires", async () => {
    const { enrollment, hello, time, storage } = await setup();
    const r = await enrollment.issue("alice");
    if (!r.ok) throw new Error(r.problem);
    expect(r.issued.userId).toBe("alice@hub.example");
    expect(r.issued.code).toMatch(/^[0-9A-Z]{5}(-[0-9A-Z]{1,5})+$/);
    expect(storage.listUsers().map((u) => u.userId)).toEqual(["alice@hub.example"]);
    const code = { method: "enrollment", credential: utf8(r.issued.code.toLowerCase()) };
    expect(await hello(undefined, "whoever", code)).toEqual({
      ok: true,
      userId: "alice@hub.example",
    });
    expect(await hello(undefined, "x", code)).toMatchObject({ code: "CODE_EXPIRED" });
    expect(await hello(undefined, "x", { method: "enrollment" })).toMatchObject({
      code: "AUTH_FAILED",
    });
    const late = await enrollment.issue("bob@hub.example");
    if (!late.ok) throw new Error(late.problem);
    time.advance(61_000);
    const lateCode = { method: "enrollment", credential: utf8(late.issued.code) };
    expect(await hello(undefined, "x", lateCode)).toMatchObject({ code: "CODE_EXPIRED" });
    expect(await enrollment.issue("eve@other.example")).toMatchObject({ ok: false });
    expect(await enrollment.issue("a b")).toMatchObject({ ok: false });
  });

  it("device links: signed by an active device of the named user, for the presenting key, once", async () => {
    const { enrollment, hello, now, storage } = await setup();
    const r = await enrollment.issue("carol");
    if (!r.ok) throw new Error(r.problem);
    const first = generateDeviceKey(rng);
    await hello(first, "carol", { method: "enrollment", credential: utf8(r.issued.code) });
    const next = generateDeviceKey(rng);
    const linkFor = (signer = first, key = next, o: { ttl?: bigint; user?: string } = {}) => ({
      method: "device_link",
      credential: signDeviceLink(signer.signer, {
        device_key: key.publicKey,
        user_id: o.user ?? "carol@hub.example",
        expires_at: now() + (o.ttl ?? 60n),
        nonce: rng.bytes(16),
      }),
    });
    expect(
      await hello(next, "x", { method: "device_link", credential: utf8("junk") }),
    ).toMatchObject({
      code: "AUTH_FAILED",
    });
    expect(await hello(next, "x", linkFor(first, generateDeviceKey(rng)))).toMatchObject({
      code: "AUTH_FAILED",
    });
    const stranger = generateDeviceKey(rng);
    expect(await hello(next, "x", linkFor(stranger))).toMatchObject({ code: "AUTH_FAILED" });
    expect(
      await hello(next, "x", linkFor(first, next, { user: "dave@hub.example" })),
    ).toMatchObject({
      code: "AUTH_FAILED",
    });
    expect(await hello(next, "x", linkFor(first, next, { ttl: -1n }))).toMatchObject({
      code: "CODE_EXPIRED",
    });
    expect(await hello(next, "x", linkFor(first, next, { ttl: 100_000n }))).toMatchObject({
      code: "AUTH_FAILED",
    });
    const good = linkFor();
    expect(await hello(next, "x", good)).toEqual({ ok: true, userId: "carol@hub.example" });
    // The new device may sign links in turn; once revoked, its links are worthless.
    const third = generateDeviceKey(rng);
    expect(await hello(third, "x", linkFor(next, third))).toMatchObject({ ok: true });
    await storage.revokeDevice(next.senderId, now());
    const fourth = generateDeviceKey(rng);
    expect(await hello(fourth, "x", linkFor(next, fourth))).toMatchObject({ code: "AUTH_FAILED" });
    // A link is for the key it names only.
    expect(await hello(generateDeviceKey(rng), "x", good)).toMatchObject({ code: "AUTH_FAILED" });
  });

  it("buildAuthentication: one entry per method; a method this build lacks is refused", async () => {
    const config = defaultConfig();
    config.auth.methods = ["oidc", "enrollment"];
    config.auth.oidc_issuer = "https://issuer.example";
    config.auth.oidc_audience = "kalandra";
    config.auth.oidc_jwks_url = "https://issuer.example/jwks";
    const deps = { storage: new MemoryStorage(), clock: new ManualTime(), rng };
    const auth = await buildAuthentication({ config, ...deps });
    expect(auth.methods).toEqual(["oidc", "enrollment", "device_link"]);
    config.auth.methods = ["password"];
    await expect(buildAuthentication({ config, ...deps })).rejects.toThrow(
      /"password" is not built into this kalandrad/,
    );
  });
});

describe("identity admin routes", () => {
  it("adds users, lists them and their devices, revokes (audited)", async () => {
    const { enrollment, storage, time, hello } = await setup();
    const closed: bigint[] = [];
    const devices = new DeviceRegistry({
      storage,
      clock: time,
      closeDevice: (s) => closed.push(s),
    });
    const a: IdentityAdmin = { devices, storage, enrollment };
    const route = (method: string, path: string, body: Record<string, unknown> = {}) =>
      identityRoute(a, { method, path, body }, "admin:ops");
    const added = await route("POST", "/admin/users", { user: "dora" });
    expect(added?.status).toBe(200);
    const code = (added?.body as { code: string } | undefined)?.code ?? "";
    const key = generateDeviceKey(rng);
    await hello(key, "dora", { method: "enrollment", credential: utf8(code) });
    expect((await route("POST", "/admin/users", { user: 5 }))?.status).toBe(400);
    expect((await route("POST", "/admin/users", { user: "a b" }))?.status).toBe(400);
    expect((await route("GET", "/admin/users"))?.body).toEqual({
      users: [{ user: "dora@hub.example", created_at: expect.any(String), active_devices: 1 }],
    });
    const listed = await route(
      "GET",
      `/admin/users/${encodeURIComponent("dora@hub.example")}/devices`,
    );
    expect((listed?.body as { devices: unknown[] } | undefined)?.devices).toEqual([
      expect.objectContaining({ sender_id: key.senderId.toString() }),
    ]);
    expect((await route("GET", "/admin/users/%E0%A4%A/devices"))?.status).toBe(400);
    expect((await route("POST", "/admin/devices/revoke", { sender_id: "x" }))?.status).toBe(400);
    expect((await route("POST", "/admin/devices/revoke", { sender_id: "12" }))?.status).toBe(404);
    const revoked = await route("POST", "/admin/devices/revoke", {
      sender_id: `0x${key.senderId.toString(16)}`,
    });
    expect(revoked?.status).toBe(200);
    expect(closed).toEqual([key.senderId]);
    expect(storage.readAudit().map((r) => [r.kind, r.actor])).toEqual([
      ["device_revoked", "admin:ops"],
    ]);
    expect(await route("GET", "/admin/nothing")).toBeUndefined();
    const noEnrollment = await identityRoute(
      { devices, storage },
      { method: "POST", path: "/admin/users", body: { user: "x" } },
      "admin:ops",
    );
    expect(noEnrollment?.status).toBe(409);
  });
});

describe("in band: DEVICE_LIST and DEVICE_REVOKE", () => {
  it("a user lists and revokes its own devices only", async () => {
    const env = await makeEnv();
    const alice = await makeClient(env, "alice");
    const mallory = await makeClient(env, "mallory");
    for (const c of [alice, mallory]) {
      await env.storage.bindDevice(
        { senderId: c.senderId, deviceKey: c.signer.publicKey, userId: c.name, boundAt: 1n },
        10,
      );
    }
    const frame = (c: typeof alice, opcode: number, payload: Uint8Array) => {
      return encodeFrame(
        {
          opcode,
          requestId: c.nextRequest++,
          roomId: 0n,
          senderId: c.senderId,
          epoch: 0n,
          payload,
        },
        c.signer,
      );
    };
    const list = await send(
      env,
      alice,
      frame(alice, Opcode.DEVICE_LIST, encodePayload(Opcode.DEVICE_LIST, {})),
    );
    expect(list.opcode).toBe(Opcode.DEVICE_LISTED);
    const theft = await send(
      env,
      mallory,
      frame(
        mallory,
        Opcode.DEVICE_REVOKE,
        encodePayload(Opcode.DEVICE_REVOKE, { sender_id: alice.senderId }),
      ),
    );
    expect(errorName(theft)).toBe("NOT_FOUND");
    const own = await send(
      env,
      alice,
      frame(
        alice,
        Opcode.DEVICE_REVOKE,
        encodePayload(Opcode.DEVICE_REVOKE, { sender_id: alice.senderId }),
      ),
    );
    expect(own.opcode).toBe(Opcode.ACK);
    expect(env.storage.getDevice(alice.senderId)?.revokedAt).toBeDefined();
    expect(env.storage.readAudit().map((r) => [r.kind, r.actor])).toEqual([
      ["device_revoke_refused", "user:mallory"],
      ["device_revoked", "user:alice"],
    ]);
  });
});
