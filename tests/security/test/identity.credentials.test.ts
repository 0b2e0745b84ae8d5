/**
 * Issue 12, enrollment's credentials (DESIGN §10): a revoked device is cut off and never
 * comes back; an enrollment code is good once and only until it expires; a device link
 * must be signed by an active device of the user it names, and is good once. Before the
 * change none of this existed: any key named any user. Each is refused with its typed
 * error; revoking another user's device is a rights violation and audited; the bystander
 * keeps being served.
 */
import {
  decodeDeviceLink,
  decodePayload,
  encodePayload,
  generateDeviceKey,
  Opcode,
  signDeviceLink,
  systemRng,
} from "@kalandra/proto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { errorName, expectOpcode, pingOk, type RawSession, type SecurityHub } from "./hub.js";
import {
  admin,
  attempt,
  auditOf,
  codeAuth,
  enroll,
  enrolledBystander,
  link,
  outcome,
  startEnrollmentHub,
} from "./identityHub.js";

const CODE_TTL_S = 2;
let hub: SecurityHub;
let bystander: RawSession;

beforeAll(async () => {
  hub = await startEnrollmentHub({ KALANDRA_AUTH__ENROLLMENT_CODE_TTL_S: String(CODE_TTL_S) });
  bystander = await enrolledBystander(hub);
});
afterAll(async () => {
  bystander?.close();
  await hub?.stop();
});

it("an enrollment code is good once, and not after it expired", async () => {
  const alice = await enroll(hub, "alice");
  const first = await attempt(hub, alice.user, { auth: codeAuth(alice.code) });
  expect(outcome(first.answer)).toBe(alice.user);
  first.session.close();
  const reused = await attempt(hub, alice.user, { auth: codeAuth(alice.code) });
  expect(outcome(reused.answer)).toBe("error:CODE_EXPIRED");
  const typo = await attempt(hub, alice.user, { auth: codeAuth("AAAAA-BBBBB") });
  expect(outcome(typo.answer)).toBe("error:AUTH_FAILED");
  const late = await enroll(hub, "late");
  await new Promise((r) => setTimeout(r, (CODE_TTL_S + 1.2) * 1000));
  const expired = await attempt(hub, late.user, { auth: codeAuth(late.code) });
  expect(outcome(expired.answer)).toBe("error:CODE_EXPIRED");
  await pingOk(bystander);
});

it("a device link must be signed by an active device of its user, and is good once", async () => {
  const bob = await enroll(hub, "bob");
  const mallory = await enroll(hub, "mallory");
  const b = await attempt(hub, bob.user, { auth: codeAuth(bob.code) });
  const m = await attempt(hub, mallory.user, { auth: codeAuth(mallory.code) });
  expect([outcome(b.answer), outcome(m.answer)]).toEqual([bob.user, mallory.user]);

  // mallory signs a link naming bob: her device is not bob's.
  const k1 = generateDeviceKey(systemRng);
  const forged = await attempt(hub, bob.user, {
    key: k1,
    auth: link(m.key, k1.publicKey, bob.user),
  });
  expect(outcome(forged.answer)).toBe("error:AUTH_FAILED");
  // A link naming bob's device as signer but signed by mallory's key.
  const k2 = generateDeviceKey(systemRng);
  const stolen = link(m.key, k2.publicKey, bob.user);
  const parsed = decodeDeviceLink(stolen.credential);
  const resigned = signDeviceLink(
    { publicKey: b.key.publicKey, sign: (d: Uint8Array) => m.key.signer.sign(d) },
    {
      device_key: parsed.device_key,
      user_id: parsed.user_id,
      expires_at: parsed.expires_at,
      nonce: parsed.nonce,
    },
  );
  const badSig = await attempt(hub, bob.user, {
    key: k2,
    auth: { method: "device_link", credential: resigned },
  });
  expect(outcome(badSig.answer)).toBe("error:AUTH_FAILED");
  // A genuine link presented by another key than the one it names.
  const k3 = generateDeviceKey(systemRng);
  const genuine = link(b.key, k3.publicKey, bob.user);
  const thief = await attempt(hub, bob.user, { auth: genuine });
  expect(outcome(thief.answer)).toBe("error:AUTH_FAILED");
  // The genuine link works once for its device; a second device cannot reuse its nonce.
  const ok = await attempt(hub, bob.user, { key: k3, auth: genuine });
  expect(outcome(ok.answer)).toBe(bob.user);
  const k4 = generateDeviceKey(systemRng);
  const nonce = decodeDeviceLink(genuine.credential).nonce;
  const replay = await attempt(hub, bob.user, {
    key: k4,
    auth: link(b.key, k4.publicKey, bob.user, { nonce }),
  });
  expect(outcome(replay.answer)).toBe("error:CODE_EXPIRED");
  // A link that would outlive auth.device_link_ttl_s (600 s by default).
  const k5 = generateDeviceKey(systemRng);
  const long = await attempt(hub, bob.user, {
    key: k5,
    auth: link(b.key, k5.publicKey, bob.user, { ttlSeconds: 86_400 }),
  });
  expect(outcome(long.answer)).toBe("error:AUTH_FAILED");
  for (const s of [b, m, ok]) s.session.close();
  await pingOk(bystander);
});

it("a revoked device's sessions close and it never authenticates again; others' devices are not yours to revoke", async () => {
  const carol = await enroll(hub, "carol");
  const eve = await enroll(hub, "eve");
  const c1 = await attempt(hub, carol.user, { auth: codeAuth(carol.code) });
  const k2 = generateDeviceKey(systemRng);
  const c2 = await attempt(hub, carol.user, {
    key: k2,
    auth: link(c1.key, k2.publicKey, carol.user),
  });
  const e = await attempt(hub, eve.user, { auth: codeAuth(eve.code) });
  expect([outcome(c1.answer), outcome(c2.answer), outcome(e.answer)]).toEqual([
    carol.user,
    carol.user,
    eve.user,
  ]);

  // carol lists her devices in band.
  const listed = await c1.session.request({
    opcode: Opcode.DEVICE_LIST,
    payload: encodePayload(Opcode.DEVICE_LIST, {}),
  });
  expectOpcode(listed, Opcode.DEVICE_LISTED);
  const devices = decodePayload(Opcode.DEVICE_LISTED, listed.payload).devices;
  expect(devices.map((d) => d.sender_id).sort()).toEqual([c1.key.senderId, k2.senderId].sort());

  // eve tries to revoke carol's first device: not hers (audited), nothing happens.
  const theft = await e.session.request({
    opcode: Opcode.DEVICE_REVOKE,
    payload: encodePayload(Opcode.DEVICE_REVOKE, { sender_id: c1.key.senderId }),
  });
  expect(errorName(theft)).toBe("NOT_FOUND");
  expect((await auditOf(hub, "device_revoke_refused")).map((r) => r.actor)).toContain(
    `user:${eve.user}`,
  );
  await pingOk(c1.session);

  // carol revokes her second device in band: its session is closed, it never comes back.
  const revoke = await c1.session.request({
    opcode: Opcode.DEVICE_REVOKE,
    payload: encodePayload(Opcode.DEVICE_REVOKE, { sender_id: k2.senderId }),
  });
  expectOpcode(revoke, Opcode.ACK);
  await c2.session.waitClosed();
  const back = await attempt(hub, carol.user, { key: k2 });
  expect(outcome(back.answer)).toBe("error:DEVICE_REVOKED");
  expect(await auditOf(hub, "auth_refused")).toContainEqual(
    expect.objectContaining({
      actor: `device:${k2.senderId.toString(16)}`,
      detail: { code: "DEVICE_REVOKED", user_id: carol.user },
    }),
  );
  const relinked = await attempt(hub, carol.user, {
    key: k2,
    auth: link(c1.key, k2.publicKey, carol.user),
  });
  expect(outcome(relinked.answer)).toBe("error:DEVICE_REVOKED");

  // An operator revokes eve's device: her open session closes too.
  const r = await admin(hub, "POST", "/admin/devices/revoke", {
    sender_id: e.key.senderId.toString(),
  });
  expect(r.status).toBe(200);
  await e.session.waitClosed();
  expect(outcome((await attempt(hub, eve.user, { key: e.key })).answer)).toBe(
    "error:DEVICE_REVOKED",
  );
  const revoked = await auditOf(hub, "device_revoked");
  expect(revoked.map((x) => x.actor)).toEqual(
    expect.arrayContaining([`user:${carol.user}`, expect.stringMatching(/^admin:/)]),
  );
  c1.session.close();
  await pingOk(bystander);
});
