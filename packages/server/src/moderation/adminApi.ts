/**
 * The operators' admin API (issue 8), served under /admin/ on the monitoring listener
 * (runtime/node/monitoring.ts) and called by `kalandrad admin …` (adminClient.ts):
 *
 *   POST /admin/kick       {room, user, reason}
 *   POST /admin/ban        {user, scope: "room"|"hub", room?, reason}
 *   POST /admin/unban      {user, scope, room?}
 *   POST /admin/redact     {room, index, reason}
 *   POST /admin/retention  {room, max_age_ms, max_count}
 *   POST /admin/sweep      {}                      run a retention sweep now
 *   GET  /admin/audit?from=&limit=                 records and the chain's verification
 *   GET  /admin/users/:id/messages                 the user index: [{room, index}]
 *   GET  /admin/bans
 *   /admin/users, /admin/users/:id/devices, /admin/devices/revoke   identity/adminRoutes.ts
 *
 * Room ids and log indexes are decimal strings in JSON (u128 and u64 do not fit a double).
 *
 * Authentication: `Authorization: Bearer <monitoring.admin_token>`. The token is compared
 * in constant time over SHA-256 digests, so neither its bytes nor its length leak through
 * timing. With no token configured the API is disabled. Every action is audited with the
 * operator name (`x-kalandra-operator`, default "admin"); every refused call is audited as
 * `admin_refused`, at most `refusalBurst` records per minute so a flood of bad calls cannot
 * fill the disk (the next record says how many were left out).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Clock } from "@kalandra/proto";
import { RefusalLimiter } from "../audit/refusals.js";
import { type IdentityAdmin, identityRoute } from "../identity/adminRoutes.js";
import type { AuditRecord } from "../storage/types.js";
import type { Refusal } from "../vocabulary/outcome.js";
import type { BanScope } from "./bans.js";
import type { Moderation } from "./service.js";

export interface AdminRequest {
  method: string;
  /** Path without the query string, e.g. "/admin/kick". */
  path: string;
  query: URLSearchParams;
  authorization?: string | undefined;
  operator?: string | undefined;
  /** Parsed JSON body; undefined when there was none. */
  body: unknown;
  /** Peer address, for the audit record of a refused call. */
  remote?: string | undefined;
}

/** What the token check needs: the request without its body. */
export type AdminRequestHead = Pick<AdminRequest, "method" | "path" | "authorization" | "remote">;

export interface AdminResponse {
  status: number;
  body: unknown;
}

export interface AdminApiOptions {
  moderation: Moderation;
  /** The configured token, read per request (SIGHUP may change it); "" disables the API. */
  token(): string;
  clock: Clock;
  /** Refusal records per minute (default 20). */
  refusalBurst?: number;
  /** Users and devices (identity/adminRoutes.ts); absent = those routes are 404. */
  identity?: IdentityAdmin;
}

const OPERATOR = /^[A-Za-z0-9_.@-]{1,64}$/;

class BadRequest extends Error {}

/** Constant-time token check over SHA-256 digests (equal lengths whatever was sent). */
export function tokenMatches(header: string | undefined, token: string): boolean {
  if (token === "" || header === undefined || !header.startsWith("Bearer ")) return false;
  const given = createHash("sha256").update(header.slice(7), "utf8").digest();
  const want = createHash("sha256").update(token, "utf8").digest();
  return timingSafeEqual(given, want);
}

export class AdminApi {
  private readonly refusals: RefusalLimiter;

  constructor(private readonly o: AdminApiOptions) {
    this.refusals = new RefusalLimiter(o.clock, o.refusalBurst ?? 20);
  }

  /**
   * The token check alone (audited when it fails), which needs nothing but the request's
   * head: the listener asks it before reading any body, so a tokenless client cannot hold a
   * connection open with a slow body (issue 12). undefined = authorised.
   */
  async refuse(req: AdminRequestHead): Promise<AdminResponse | undefined> {
    const token = this.o.token();
    if (token === "" || !tokenMatches(req.authorization, token)) {
      const why =
        token === ""
          ? "admin_disabled"
          : req.authorization === undefined
            ? "missing_token"
            : "wrong_token";
      await this.refused(req, why);
      return token === ""
        ? { status: 403, body: { error: why, message: "set monitoring.admin_token to enable" } }
        : { status: 401, body: { error: why } };
    }
    return undefined;
  }

  async handle(req: AdminRequest): Promise<AdminResponse> {
    const refused = await this.refuse(req);
    if (refused !== undefined) return refused;
    const actor = `admin:${req.operator !== undefined && OPERATOR.test(req.operator) ? req.operator : "admin"}`;
    try {
      return await this.route(req, actor);
    } catch (e) {
      if (e instanceof BadRequest)
        return { status: 400, body: { error: "bad_request", message: e.message } };
      throw e;
    }
  }

  private async route(req: AdminRequest, actor: string): Promise<AdminResponse> {
    const m = this.o.moderation;
    const b = (req.body ?? {}) as Record<string, unknown>;
    if (typeof b !== "object" || b === null || Array.isArray(b))
      throw new BadRequest("body must be a JSON object");
    const key = `${req.method} ${req.path}`;
    if (this.o.identity !== undefined) {
      const answer = await identityRoute(this.o.identity, { ...req, body: b }, actor);
      if (answer !== undefined) return { status: answer.status, body: jsonSafe(answer.body) };
    }
    const user = /^\/admin\/users\/([^/]+)\/messages$/.exec(req.path);
    if (req.method === "GET" && user !== null) {
      const userId = percentDecoded(user[1] as string);
      return ok({
        user: userId,
        messages: (await m.userMessages(userId)).map((e) => ({
          room: e.roomId,
          index: e.logIndex,
        })),
      });
    }
    switch (key) {
      case "POST /admin/kick":
        return reply(await m.kick(roomOf(b.room), text(b.user, "user"), reasonOf(b), actor));
      case "POST /admin/ban": {
        const scope = scopeOf(b.scope);
        const room = scope === "room" ? roomOf(b.room) : undefined;
        return reply(await m.ban(text(b.user, "user"), scope, room, reasonOf(b), actor));
      }
      case "POST /admin/unban": {
        const scope = scopeOf(b.scope);
        const room = scope === "room" ? roomOf(b.room) : undefined;
        return reply(await m.unban(text(b.user, "user"), scope, room, actor));
      }
      case "POST /admin/redact":
        return reply(await m.redact(roomOf(b.room), indexOf(b.index), reasonOf(b), actor));
      case "POST /admin/retention":
        return reply(
          await m.setRetention(
            roomOf(b.room),
            {
              maxAgeMs: count(b.max_age_ms, "max_age_ms"),
              maxCount: count(b.max_count, "max_count"),
            },
            actor,
          ),
        );
      case "POST /admin/sweep":
        return ok(await m.sweep());
      case "GET /admin/audit": {
        const from = count(req.query.get("from") ?? 0, "from");
        const limit = Math.min(count(req.query.get("limit") ?? 1000, "limit"), 10_000);
        const log = m.auditLog(from, limit);
        return ok({
          from,
          total: log.total,
          verification: log.verification,
          records: log.records.map(recordJson),
        });
      }
      case "GET /admin/bans":
        return ok({
          bans: m.bans.list().map((x) => ({ user: x.userId, scope: x.scope, room: x.roomId })),
        });
      default:
        return { status: 404, body: { error: "not_found", message: `no route ${key}` } };
    }
  }

  /** Audits a refused call, rate-limited per minute of the injected clock. */
  private async refused(req: AdminRequestHead, why: string): Promise<void> {
    const detail: Record<string, unknown> = { reason: why, method: req.method, path: req.path };
    if (req.remote !== undefined) detail.remote = req.remote;
    const admitted = this.refusals.admit(detail);
    if (admitted === undefined) return;
    await this.o.moderation.audit("admin_refused", "anonymous", undefined, admitted);
  }
}

function ok(body: unknown): AdminResponse {
  return { status: 200, body: jsonSafe(body) };
}

const STATUS: Record<string, number> = {
  NOT_FOUND: 404,
  UNKNOWN_ROOM: 404,
  NOT_MEMBER: 404,
  FORBIDDEN: 403,
  BAD_PAYLOAD: 400,
};

function reply(r: { ok: true } | { ok: false; refusal: Refusal }): AdminResponse {
  if (r.ok) return ok(r);
  const status = STATUS[r.refusal.code] ?? (r.refusal.code === "INTERNAL" ? 500 : 409);
  return { status, body: { ok: false, error: r.refusal.code, message: r.refusal.message } };
}

/** A percent-encoded path segment; malformed encoding is the caller's error (400), not ours. */
function percentDecoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadRequest("malformed percent-encoding in the path");
  }
}

function text(v: unknown, name: string): string {
  if (typeof v !== "string" || v.length === 0 || v.length > 256)
    throw new BadRequest(`"${name}" expected a non-empty string`);
  return v;
}

function reasonOf(b: Record<string, unknown>): string {
  if (b.reason === undefined) return "";
  if (typeof b.reason !== "string" || b.reason.length > 1024)
    throw new BadRequest('"reason" expected a string of at most 1024 characters');
  return b.reason;
}

function scopeOf(v: unknown): BanScope {
  if (v === undefined || v === "room") return "room";
  if (v === "hub") return "hub";
  throw new BadRequest('"scope" expected "room" or "hub"');
}

function unsigned(v: unknown, name: string, bits: bigint): bigint {
  let n: bigint;
  try {
    if (typeof v === "number" && Number.isSafeInteger(v)) n = BigInt(v);
    else if (typeof v === "string" && /^(0x[0-9a-fA-F]+|[0-9]+)$/.test(v)) n = BigInt(v);
    else throw new Error();
  } catch {
    throw new BadRequest(`"${name}" expected an unsigned integer (decimal or 0x string)`);
  }
  if (n < 0n || n >= 1n << bits) throw new BadRequest(`"${name}" out of range`);
  return n;
}

const roomOf = (v: unknown): bigint => unsigned(v, "room", 128n);
const indexOf = (v: unknown): bigint => unsigned(v, "index", 64n);
const count = (v: unknown, name: string): number => Number(unsigned(v, name, 53n));

function recordJson(r: AuditRecord): unknown {
  return { kind: r.kind, at: r.at, room: r.roomId, actor: r.actor, detail: r.detail };
}

/** bigint → decimal string, bytes → hex, so any result serialises as JSON. */
export function jsonSafe(v: unknown): unknown {
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString("hex");
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = jsonSafe(x);
    return out;
  }
  return v;
}
