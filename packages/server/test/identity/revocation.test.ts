/**
 * Revoking a device is complete (issue 16): besides closing its sessions and refusing its
 * key for good (authentication.test.ts), nobody is handed the revoked device's key packages
 * any more. Before the fix a KP_CLAIM still returned them, so whoever added the user built
 * a commit that the leaf binding then refused ("an added key package's device was
 * revoked"): one revoked device made its user impossible to add anywhere.
 */
import { decodePayload, Opcode } from "@kalandra/proto";
import { defaultCapabilities, encodeMlsMessage, generateKeyPackageWithKey } from "ts-mls";
import { describe, expect, it } from "vitest";
import { type Client, type Env, frameOf, makeClient, makeEnv, send } from "../hub/harness.js";

async function upload(env: Env, c: Client, lastResort: boolean): Promise<void> {
  const kp = await generateKeyPackageWithKey(
    { credentialType: "basic", identity: new TextEncoder().encode(c.name) },
    defaultCapabilities(),
    { notBefore: 0n, notAfter: 1n << 40n },
    [],
    { publicKey: c.signer.publicKey, signKey: c.device.privatePackage.signaturePrivateKey },
    env.cs,
  );
  const bytes = encodeMlsMessage({
    version: "mls10",
    wireformat: "mls_key_package",
    keyPackage: kp.publicPackage,
  });
  const r = await send(
    env,
    c,
    frameOf(c, Opcode.KP_UPLOAD, 0n, 0n, { key_packages: [bytes], last_resort: lastResort }),
  );
  expect(r.opcode).toBe(Opcode.ACK);
}

describe("device revocation", () => {
  it("stops handing out the revoked device's key packages, one-shot and last-resort", async () => {
    const env = await makeEnv();
    const phone = await makeClient(env, "bob");
    const laptop = await makeClient(env, "bob");
    const alice = await makeClient(env, "alice");
    for (const d of [phone, laptop]) {
      await upload(env, d, false);
      await upload(env, d, true);
    }
    expect((await env.hub.devices.revoke(phone.senderId, "admin:ops")).ok).toBe(true);
    for (let i = 0; i < 3; i++) {
      const a = await send(env, alice, frameOf(alice, Opcode.KP_CLAIM, 0n, 0n, { user_id: "bob" }));
      expect(a.opcode).toBe(Opcode.KP_CLAIMED);
      const claims = decodePayload(Opcode.KP_CLAIMED, a.frame.payload).claims;
      expect(claims.map((c) => c.sender_id)).toEqual([laptop.senderId]);
    }
    // A user whose every device is revoked has nothing to claim.
    expect((await env.hub.devices.revoke(laptop.senderId, "admin:ops")).ok).toBe(true);
    const none = await send(
      env,
      alice,
      frameOf(alice, Opcode.KP_CLAIM, 0n, 0n, { user_id: "bob" }),
    );
    expect(none.opcode).toBe(Opcode.ERROR);
  });
});
