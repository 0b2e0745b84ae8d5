/**
 * What the identity attacks need (issue 12, DESIGN §10): a kalandrad with `auth.methods =
 * ["enrollment"]` and its admin API, users enrolled through it, handshakes that may be
 * refused (the attacker's), and device links signed by a user's device.
 */
import {
  type DeviceKey,
  decodePayload,
  encodePayload,
  type Frame,
  generateDeviceKey,
  Opcode,
  signDeviceLink,
  systemRng,
} from "@kalandra/proto";
import { errorName, RawSession, type SecurityHub, startHub } from "./hub.js";

export const ADMIN_TOKEN = "security-suite-admin-token";
export const DOMAIN = "localhost";
export const MAX_DEVICES = 5;

/** A hub with enrollment only, `mod@localhost` as moderator, at most MAX_DEVICES per user. */
export function startEnrollmentHub(env: Record<string, string> = {}): Promise<SecurityHub> {
  return startHub({
    monitoring: true,
    env: {
      KALANDRA_AUTH__METHODS: "enrollment",
      KALANDRA_AUTH__MAX_DEVICES_PER_USER: String(MAX_DEVICES),
      KALANDRA_MONITORING__ADMIN_TOKEN: ADMIN_TOKEN,
      KALANDRA_MODERATION__MODERATORS: `mod@${DOMAIN}`,
      ...env,
    },
  });
}

/** One admin API call; resolves with the status and the JSON answer. */
export async function admin(
  hub: SecurityHub,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${hub.monitoringPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** `kalandrad admin user add NAME` through the API: the user id and its one-time code. */
export async function enroll(
  hub: SecurityHub,
  name: string,
): Promise<{ user: string; code: string }> {
  const r = await admin(hub, "POST", "/admin/users", { user: name });
  if (r.status !== 200) throw new Error(`enrolling ${name}: ${JSON.stringify(r.body)}`);
  return { user: r.body.user as string, code: r.body.code as string };
}

export const utf8 = (s: string) => new TextEncoder().encode(s);

export const codeAuth = (code: string) => ({ method: "enrollment", credential: utf8(code) });

/** A device link for `deviceKey`, signed by `signer` (an existing device, or a forger). */
export function link(
  signer: DeviceKey,
  deviceKey: Uint8Array,
  userId: string,
  o: { ttlSeconds?: number; nonce?: Uint8Array } = {},
): { method: string; credential: Uint8Array } {
  const now = BigInt(Math.floor(Date.now() / 1000));
  return {
    method: "device_link",
    credential: signDeviceLink(signer.signer, {
      device_key: deviceKey,
      user_id: userId,
      expires_at: now + BigInt(o.ttlSeconds ?? 120),
      nonce: o.nonce ?? systemRng.bytes(16),
    }),
  };
}

/**
 * Runs HELLO → AUTH_RESPONSE on a fresh connection and returns the hub's last answer
 * (AUTH_OK, or the ERROR refusing the handshake) with the session.
 */
export async function attempt(
  hub: SecurityHub,
  userId: string,
  o: { key?: DeviceKey; auth?: { method: string; credential: Uint8Array } } = {},
): Promise<{ session: RawSession; answer: Frame; key: DeviceKey }> {
  const key = o.key ?? generateDeviceKey(systemRng);
  const session = await RawSession.connect(hub, key);
  const challenge = await session.request({
    opcode: Opcode.HELLO,
    payload: encodePayload(Opcode.HELLO, {
      device_key: key.publicKey,
      user_id: userId,
      client: "security-suite",
      ...(o.auth === undefined ? {} : { auth: o.auth }),
    }),
  });
  if (errorName(challenge) !== undefined) return { session, answer: challenge, key };
  const { nonce } = decodePayload(Opcode.AUTH_CHALLENGE, challenge.payload);
  const answer = await session.request({
    opcode: Opcode.AUTH_RESPONSE,
    payload: encodePayload(Opcode.AUTH_RESPONSE, { nonce }),
  });
  return { session, answer, key };
}

/** The user AUTH_OK names, or the ERROR's name prefixed "error:". */
export function outcome(answer: Frame): string {
  const e = errorName(answer);
  if (e !== undefined) return `error:${e}`;
  return decodePayload(Opcode.AUTH_OK, answer.payload).user_id;
}

/** An enrolled user's session that must keep being served while the attacks run. */
export async function enrolledBystander(hub: SecurityHub): Promise<RawSession> {
  const by = await enroll(hub, "bystander");
  const s = await attempt(hub, by.user, { auth: codeAuth(by.code) });
  if (outcome(s.answer) !== by.user) throw new Error(`bystander refused: ${outcome(s.answer)}`);
  return s.session;
}

/** Audit records of a kind, through the admin API. */
export async function auditOf(hub: SecurityHub, kind: string): Promise<Record<string, unknown>[]> {
  const r = await admin(hub, "GET", "/admin/audit?from=0&limit=10000");
  return (r.body.records as Record<string, unknown>[]).filter((x) => x.kind === kind);
}
