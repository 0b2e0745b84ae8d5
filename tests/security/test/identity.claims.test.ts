/**
 * Issue 12, "anyone is a moderator" and "ghost devices": under enrollment, what HELLO's
 * `user_id` claims grants nothing. Before the change each attack below succeeded: a new
 * key saying `mod` got AUTH_OK and moderated, a key saying `alice` uploaded key packages
 * under her name, one user held 150 devices, and a key that spoke for bob spoke for alice.
 * Now each is refused with its typed error (the rights violation audited), and the
 * bystander keeps being served.
 */
import { encodePayload, generateDeviceKey, Opcode, systemRng } from "@kalandra/proto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { errorName, pingOk, type RawSession, type SecurityHub } from "./hub.js";
import {
  admin,
  attempt,
  auditOf,
  codeAuth,
  DOMAIN,
  enroll,
  enrolledBystander,
  link,
  MAX_DEVICES,
  outcome,
  startEnrollmentHub,
} from "./identityHub.js";

let hub: SecurityHub;
let bystander: RawSession;

beforeAll(async () => {
  hub = await startEnrollmentHub();
  bystander = await enrolledBystander(hub);
});
afterAll(async () => {
  bystander?.close();
  await hub?.stop();
});

it("a new key claiming `mod` is refused; an enrolled user claiming `mod` is itself, and may not moderate", async () => {
  for (const claim of ["mod", `mod@${DOMAIN}`]) {
    const bare = await attempt(hub, claim);
    expect(outcome(bare.answer)).toBe("error:AUTH_FAILED");
    await bare.session.waitClosed();
    const dev = await attempt(hub, claim, {
      auth: { method: "dev", credential: new Uint8Array() },
    });
    expect(outcome(dev.answer)).toBe("error:UNKNOWN_AUTH_METHOD");
  }
  // eve has a real code, and claims to be mod: the hub says who she is.
  const eve = await enroll(hub, "eve");
  const s = await attempt(hub, `mod@${DOMAIN}`, { auth: codeAuth(eve.code) });
  expect(outcome(s.answer)).toBe(`eve@${DOMAIN}`);
  const kick = await s.session.request({
    opcode: Opcode.KICK,
    roomId: 7n,
    payload: encodePayload(Opcode.KICK, { user_id: "bystander@localhost", reason: "mine now" }),
  });
  expect(errorName(kick)).toBe("FORBIDDEN");
  const refused = await auditOf(hub, "moderation_refused");
  expect(refused.map((r) => r.actor)).toContain(`user:eve@${DOMAIN}`);
  expect(refused.map((r) => r.actor)).not.toContain(`user:mod@${DOMAIN}`);
  s.session.close();
  await pingOk(bystander);
});

it("a ghost device cannot speak for alice, so it uploads nothing under her name", async () => {
  const alice = await enroll(hub, "alice");
  const real = await attempt(hub, alice.user, { auth: codeAuth(alice.code) });
  expect(outcome(real.answer)).toBe(alice.user);
  const ghost = await attempt(hub, alice.user);
  expect(outcome(ghost.answer)).toBe("error:AUTH_FAILED");
  // The refused session is closed: its key package upload never reaches the directory.
  await ghost.session.waitClosed();
  const claim = await bystander.request({
    opcode: Opcode.KP_CLAIM,
    payload: encodePayload(Opcode.KP_CLAIM, { user_id: alice.user }),
  });
  expect(errorName(claim)).toBe("NO_KEY_PACKAGE");
  real.session.close();
  await pingOk(bystander);
});

it("one user gets at most max_devices_per_user devices, not 150", async () => {
  const bob = await enroll(hub, "bob");
  const first = await attempt(hub, bob.user, { auth: codeAuth(bob.code) });
  expect(outcome(first.answer)).toBe(bob.user);
  const outcomes: string[] = [];
  // Bounded: 150 handshakes, each on its own short-lived connection.
  for (let i = 0; i < 150; i++) {
    const key = generateDeviceKey(systemRng);
    const s = await attempt(hub, bob.user, { key, auth: link(first.key, key.publicKey, bob.user) });
    outcomes.push(outcome(s.answer));
    s.session.close();
  }
  expect(outcomes.filter((o) => o === bob.user)).toHaveLength(MAX_DEVICES - 1);
  expect(outcomes.filter((o) => o === "error:TOO_MANY_DEVICES")).toHaveLength(
    150 - (MAX_DEVICES - 1),
  );
  const devices = await admin(hub, "GET", `/admin/users/${encodeURIComponent(bob.user)}/devices`);
  expect(devices.body.devices).toHaveLength(MAX_DEVICES);
  first.session.close();
  await pingOk(bystander);
});

it("a device key that spoke for carol never speaks for dave, with or without dave's code", async () => {
  const carol = await enroll(hub, "carol");
  const dave = await enroll(hub, "dave");
  const c = await attempt(hub, carol.user, { auth: codeAuth(carol.code) });
  expect(outcome(c.answer)).toBe(carol.user);
  c.session.close();
  const bare = await attempt(hub, dave.user, { key: c.key });
  expect(outcome(bare.answer)).toBe("error:DEVICE_TAKEN");
  const withCode = await attempt(hub, dave.user, { key: c.key, auth: codeAuth(dave.code) });
  expect(outcome(withCode.answer)).toBe("error:DEVICE_TAKEN");
  // A rights violation: audited under the device and its owner, not the claimed name.
  const audited = await auditOf(hub, "auth_refused");
  expect(audited).toContainEqual(
    expect.objectContaining({
      actor: `device:${c.key.senderId.toString(16)}`,
      detail: { code: "DEVICE_TAKEN", user_id: carol.user },
    }),
  );
  // carol's key still speaks for carol, by the key alone.
  const again = await attempt(hub, carol.user, { key: c.key });
  expect(outcome(again.answer)).toBe(carol.user);
  again.session.close();
  await pingOk(bystander);
});
