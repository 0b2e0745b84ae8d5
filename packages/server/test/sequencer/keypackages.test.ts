/** The KeyPackage directory through the hub core: KP_UPLOAD, KP_CLAIM, KP_STATUS. */
import { decodePayload, Opcode } from "@kalandra/proto";
import { defaultCapabilities, encodeMlsMessage, generateKeyPackageWithKey } from "ts-mls";
import { describe, expect, it } from "vitest";
import {
  type Client,
  deliveredTo,
  type Env,
  errorName,
  frameOf,
  makeClient,
  makeEnv,
  send,
} from "../hub/harness.js";

async function packages(
  env: Env,
  c: Client,
  n: number,
  lifetime?: { notBefore: bigint; notAfter: bigint },
) {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const kp = await generateKeyPackageWithKey(
      { credentialType: "basic", identity: new TextEncoder().encode(c.name) },
      defaultCapabilities(),
      lifetime ?? { notBefore: 0n, notAfter: 1n << 40n },
      [],
      // Same signature key as the device: the frame key is the leaf key.
      { publicKey: c.signer.publicKey, signKey: c.device.privatePackage.signaturePrivateKey },
      env.cs,
    );
    out.push(
      encodeMlsMessage({
        version: "mls10",
        wireformat: "mls_key_package",
        keyPackage: kp.publicPackage,
      }),
    );
  }
  return out;
}

describe("key package directory", () => {
  it("hands out one package per device once, reuses the last-resort one, and reports low stock", async () => {
    const env = await makeEnv({ limits: { lowWatermark: 2 } });
    const bob = await makeClient(env, "bob");
    const alice = await makeClient(env, "alice");
    const up = await send(
      env,
      bob,
      frameOf(bob, Opcode.KP_UPLOAD, 0n, 0n, {
        key_packages: await packages(env, bob, 2),
        last_resort: false,
      }),
    );
    expect(up.opcode).toBe(Opcode.ACK);
    const lr = await send(
      env,
      bob,
      frameOf(bob, Opcode.KP_UPLOAD, 0n, 0n, {
        key_packages: await packages(env, bob, 1),
        last_resort: true,
      }),
    );
    expect(lr.opcode).toBe(Opcode.ACK);
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const a = await send(env, alice, frameOf(alice, Opcode.KP_CLAIM, 0n, 0n, { user_id: "bob" }));
      expect(a.opcode).toBe(Opcode.KP_CLAIMED);
      const p = decodePayload(Opcode.KP_CLAIMED, a.frame.payload);
      expect(p.claims).toHaveLength(1);
      expect(p.claims[0]!.sender_id).toBe(bob.senderId);
      seen.push(Buffer.from(p.claims[0]!.key_package).toString("hex"));
    }
    expect(new Set(seen.slice(0, 2)).size).toBe(2); // one-shot packages never twice
    expect(seen[2]).toBe(seen[3]); // then the last-resort package, again and again
    const status = deliveredTo(env, bob.senderId, Opcode.KP_STATUS);
    expect(status.length).toBeGreaterThan(0);
    expect(decodePayload(Opcode.KP_STATUS, status.at(-1)!.payload).remaining).toBe(0);
  });

  it("refuses claims for users without packages, and expired packages", async () => {
    const env = await makeEnv();
    const alice = await makeClient(env, "alice");
    const carol = await makeClient(env, "carol");
    expect(
      errorName(
        await send(env, alice, frameOf(alice, Opcode.KP_CLAIM, 0n, 0n, { user_id: "nobody" })),
      ),
    ).toBe("NO_KEY_PACKAGE");
    const nowS = env.time.now() / 1000n;
    const soon = await packages(env, carol, 1, { notBefore: 0n, notAfter: nowS + 10n });
    expect(
      (
        await send(
          env,
          carol,
          frameOf(carol, Opcode.KP_UPLOAD, 0n, 0n, { key_packages: soon, last_resort: false }),
        )
      ).opcode,
    ).toBe(Opcode.ACK);
    env.time.advance(60_000);
    expect(
      errorName(
        await send(env, alice, frameOf(alice, Opcode.KP_CLAIM, 0n, 0n, { user_id: "carol" })),
      ),
    ).toBe("KEY_PACKAGE_EXPIRED");
    const old = await packages(env, carol, 1, { notBefore: 0n, notAfter: nowS });
    expect(
      errorName(
        await send(
          env,
          carol,
          frameOf(carol, Opcode.KP_UPLOAD, 0n, 0n, { key_packages: old, last_resort: false }),
        ),
      ),
    ).toBe("KEY_PACKAGE_EXPIRED");
  });

  it("refuses packages of another device or user and garbage", async () => {
    const env = await makeEnv();
    const bob = await makeClient(env, "bob");
    const eve = await makeClient(env, "eve");
    const bobs = await packages(env, bob, 1);
    expect(
      errorName(
        await send(
          env,
          eve,
          frameOf(eve, Opcode.KP_UPLOAD, 0n, 0n, { key_packages: bobs, last_resort: false }),
        ),
      ),
    ).toBe("SENDER_MISMATCH");
    expect(
      errorName(
        await send(
          env,
          bob,
          frameOf(bob, Opcode.KP_UPLOAD, 0n, 0n, {
            key_packages: [new Uint8Array([1, 2])],
            last_resort: false,
          }),
        ),
      ),
    ).toBe("BAD_PAYLOAD");
    expect(
      errorName(
        await send(
          env,
          bob,
          frameOf(bob, Opcode.KP_UPLOAD, 0n, 0n, { key_packages: [], last_resort: false }),
        ),
      ),
    ).toBe("BAD_PAYLOAD");
  });
});

describe("per-device key package quota (issue 12)", () => {
  it("refuses an upload that would pass maxKeyPackagesPerDevice; the last-resort one and other devices are not held back", async () => {
    const env = await makeEnv({ limits: { maxKeyPackagesPerDevice: 5 } });
    const mallory = await makeClient(env, "mallory");
    const bob = await makeClient(env, "bob");
    const upload = async (c: Client, n: number, lastResort = false) =>
      send(
        env,
        c,
        frameOf(c, Opcode.KP_UPLOAD, 0n, 0n, {
          key_packages: await packages(env, c, n),
          last_resort: lastResort,
        }),
      );
    expect((await upload(mallory, 4)).opcode).toBe(Opcode.ACK);
    expect(errorName(await upload(mallory, 2))).toBe("TOO_MANY_KEY_PACKAGES");
    expect((await upload(mallory, 1)).opcode).toBe(Opcode.ACK);
    expect(errorName(await upload(mallory, 1))).toBe("TOO_MANY_KEY_PACKAGES");
    expect(env.hub.keyPackages.remaining(mallory.senderId, 0n)).toBe(5);
    expect((await upload(mallory, 1, true)).opcode).toBe(Opcode.ACK);
    expect((await upload(bob, 5)).opcode).toBe(Opcode.ACK);
  });
});
