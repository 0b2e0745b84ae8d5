/**
 * The identity part of the operators' admin API (moderation/adminApi.ts authenticates the
 * operator and audits; these routes do the work):
 *
 *   POST /admin/users                {user}        register name@domain, issue a one-time code
 *   GET  /admin/users                              users and their active device counts
 *   GET  /admin/users/:id/devices                  a user's devices (revoked ones too)
 *   POST /admin/devices/revoke       {sender_id}   revoke a device (sessions closed, audited)
 *
 * sender_id is a decimal or 0x-hex string (u64 does not fit a double); the answers carry it
 * as a decimal string, keys as hex.
 */
import { toHex } from "@kalandra/proto";
import type { IdentityStorage, StoredDevice } from "../storage/types.js";
import type { DeviceRegistry } from "./devices.js";
import type { Enrollment } from "./enrollment.js";

export interface IdentityAdmin {
  devices: DeviceRegistry;
  storage: Pick<IdentityStorage, "listUsers" | "devicesOf">;
  /** Absent when `auth.methods` has no "enrollment". */
  enrollment?: Enrollment | undefined;
}

export interface IdentityRouteRequest {
  method: string;
  path: string;
  body: Record<string, unknown>;
}

interface Answer {
  status: number;
  body: unknown;
}

const bad = (message: string): Answer => ({ status: 400, body: { error: "bad_request", message } });

function deviceJson(d: StoredDevice): Record<string, unknown> {
  return {
    sender_id: d.senderId.toString(),
    device_key: toHex(d.deviceKey),
    bound_at: d.boundAt.toString(),
    ...(d.revokedAt === undefined ? {} : { revoked_at: d.revokedAt.toString() }),
  };
}

function senderIdOf(v: unknown): bigint | undefined {
  if (typeof v !== "string" || !/^(0x[0-9a-fA-F]{1,16}|[0-9]{1,20})$/.test(v)) return undefined;
  const n = BigInt(v);
  return n < 1n << 64n ? n : undefined;
}

/** Answers an identity route, or undefined when the path is not one of them. */
export async function identityRoute(
  a: IdentityAdmin,
  req: IdentityRouteRequest,
  actor: string,
): Promise<Answer | undefined> {
  const key = `${req.method} ${req.path}`;
  const devicesOf = /^\/admin\/users\/([^/]+)\/devices$/.exec(req.path);
  if (req.method === "GET" && devicesOf !== null) {
    let user: string;
    try {
      user = decodeURIComponent(devicesOf[1] as string);
    } catch {
      return bad("malformed user id in the path");
    }
    return { status: 200, body: { user, devices: a.storage.devicesOf(user).map(deviceJson) } };
  }
  switch (key) {
    case "POST /admin/users": {
      if (a.enrollment === undefined) {
        return {
          status: 409,
          body: { error: "enrollment_disabled", message: 'auth.methods has no "enrollment"' },
        };
      }
      const name = req.body.user;
      if (typeof name !== "string" || name.length === 0 || name.length > 256) {
        return bad('"user" expected a non-empty string');
      }
      const r = await a.enrollment.issue(name);
      if (!r.ok) return bad(r.problem);
      return {
        status: 200,
        body: {
          user: r.issued.userId,
          code: r.issued.code,
          expires_at: r.issued.expiresAt.toString(),
        },
      };
    }
    case "GET /admin/users":
      return {
        status: 200,
        body: {
          users: a.storage.listUsers().map((u) => ({
            user: u.userId,
            created_at: u.createdAt.toString(),
            active_devices: a.storage.devicesOf(u.userId).filter((d) => d.revokedAt === undefined)
              .length,
          })),
        },
      };
    case "POST /admin/devices/revoke": {
      const senderId = senderIdOf(req.body.sender_id);
      if (senderId === undefined) return bad('"sender_id" expected a u64 (decimal or 0x string)');
      const r = await a.devices.revoke(senderId, actor);
      return r.ok
        ? { status: 200, body: { ok: true } }
        : { status: 404, body: { ok: false, error: r.refusal.code, message: r.refusal.message } };
    }
    default:
      return undefined;
  }
}
