/**
 * The identity part of the operators' admin API (moderation/adminApi.ts authenticates the
 * operator and audits; these routes do the work):
 *
 *   POST /admin/users                {user}        register name@domain, issue a one-time code
 *   GET  /admin/users                              users and their active device counts
 *   GET  /admin/users/:id                          one user: devices and the rooms it is in
 *   GET  /admin/users/:id/devices                  a user's devices (revoked ones too)
 *   GET  /admin/devices/:sender_id                 one device: owner, state, rooms it holds a leaf in
 *   POST /admin/devices/revoke       {sender_id}   revoke a device (sessions closed, audited;
 *                                                  its key packages are no longer handed out)
 *
 * sender_id is a decimal or 0x-hex string (u64 does not fit a double); the answers carry it
 * as a decimal string, keys as hex.
 */
import { toHex } from "@kalandra/proto";
import type { IdentityStorage, StoredDevice } from "../storage/types.js";
import type { DeviceRegistry } from "./devices.js";
import type { Enrollment } from "./enrollment.js";

/** Where users' and devices' rooms are found (moderation/roomAdmin.ts asks the shards). */
export interface Memberships {
  userRooms(
    userId: string,
  ): Promise<{ roomId: bigint; role: string | undefined; leaves: number[] }[]>;
  deviceRooms(senderId: bigint): Promise<{ roomId: bigint; leaf: number }[]>;
}

export interface IdentityAdmin {
  devices: DeviceRegistry;
  storage: Pick<IdentityStorage, "listUsers" | "devicesOf" | "getDevice">;
  /** Rooms of a user or device; absent = the detail routes list no rooms. */
  memberships?: Memberships | undefined;
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

function segment(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
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
  const oneUser = /^\/admin\/users\/([^/]+)$/.exec(req.path);
  if (req.method === "GET" && oneUser !== null) {
    const user = segment(oneUser[1] as string);
    if (user === undefined) return bad("malformed user id in the path");
    const known = a.storage.listUsers().find((u) => u.userId === user);
    const devices = a.storage.devicesOf(user);
    if (known === undefined && devices.length === 0) {
      return { status: 404, body: { error: "NOT_FOUND", message: `no user ${user}` } };
    }
    const rooms = (await a.memberships?.userRooms(user)) ?? [];
    return {
      status: 200,
      body: {
        user,
        ...(known === undefined ? {} : { created_at: known.createdAt.toString() }),
        devices: devices.map(deviceJson),
        rooms: rooms.map((r) => ({ room: r.roomId.toString(), role: r.role, leaves: r.leaves })),
      },
    };
  }
  const oneDevice = /^\/admin\/devices\/([^/]+)$/.exec(req.path);
  if (req.method === "GET" && oneDevice !== null && oneDevice[1] !== "revoke") {
    const senderId = senderIdOf(segment(oneDevice[1] as string));
    if (senderId === undefined) return bad("sender_id expected a u64 (decimal or 0x string)");
    const d = a.storage.getDevice(senderId);
    if (d === undefined) {
      return { status: 404, body: { error: "NOT_FOUND", message: `no device ${senderId}` } };
    }
    const rooms = (await a.memberships?.deviceRooms(senderId)) ?? [];
    return {
      status: 200,
      body: {
        ...deviceJson(d),
        user: d.userId,
        ...(d.boundBy === undefined ? {} : { bound_by: d.boundBy }),
        rooms: rooms.map((r) => ({ room: r.roomId.toString(), leaf: r.leaf })),
      },
    };
  }
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
