/**
 * The hub core's authentication (DESIGN §10): a registered key trying to speak for another
 * user, or a revoked key coming back, is refused and audited under the device (the
 * claimed id is never written); a flood of them is rate-limited.
 */
import { generateDeviceKey } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { makeEnv } from "../hub/harness.js";

let seed = 0;
const rng = { bytes: (n: number) => new Uint8Array(n).fill(++seed) };

describe("HubCore.authenticate", () => {
  it("audits DEVICE_TAKEN and DEVICE_REVOKED under the device, rate-limited", async () => {
    const env = await makeEnv();
    const key = generateDeviceKey(rng);
    const req = (claimedUserId: string) => ({
      deviceKey: key.publicKey,
      senderId: key.senderId,
      claimedUserId,
      nowSeconds: 1n,
    });
    expect(await env.hub.authenticate(req("bob"))).toEqual({ ok: true, userId: "bob" });
    expect(await env.hub.authenticate(req("alice"))).toMatchObject({ code: "DEVICE_TAKEN" });
    await env.storage.revokeDevice(key.senderId, 2n);
    expect(await env.hub.authenticate(req("bob"))).toMatchObject({ code: "DEVICE_REVOKED" });
    // An unknown key with a bad claim is not a registered device's violation: not audited.
    const stranger = generateDeviceKey(rng);
    await env.hub.authenticate({
      ...req("a b"),
      deviceKey: stranger.publicKey,
      senderId: stranger.senderId,
    });
    const audited = env.storage.readAudit().filter((r) => r.kind === "auth_refused");
    expect(audited.map((r) => [r.actor, r.detail])).toEqual([
      [`device:${key.senderId.toString(16)}`, { code: "DEVICE_TAKEN", user_id: "bob" }],
      [`device:${key.senderId.toString(16)}`, { code: "DEVICE_REVOKED", user_id: "bob" }],
    ]);
    for (let i = 0; i < 40; i++) await env.hub.authenticate(req("bob"));
    expect(env.storage.readAudit().filter((r) => r.kind === "auth_refused")).toHaveLength(20);
  });
});
