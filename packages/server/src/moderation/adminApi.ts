/**
 * The operators' admin API (issue 8), served under /admin/ on the monitoring listener
 * (runtime/node/monitoring.ts) and called by `kalandrad admin …` (cli/admin.ts):
 *
 *   POST /admin/kick       {room, user, reason}
 *   POST /admin/ban        {user, scope: "room"|"hub", room?, reason}
 *   POST /admin/unban      {user, scope, room?}
 *   POST /admin/redact     {room, index, reason}
 *   POST /admin/retention  {room, max_age_ms, max_count}
 *   POST /admin/sweep      {}                      run a retention sweep now
 *   GET  /admin/audit?from=&limit=&chain=          every chain's records and verification
 *   GET  /admin/users/:id/messages                 the user index: [{room, index}]
 *   GET  /admin/bans
 *   /admin/users…, /admin/devices…                 identity/adminRoutes.ts
 *   /admin/rooms…                                  moderation/roomRoutes.ts
 *   /admin/rooms/transfer, /admin/rooms/:id/authority  moderation/authorityRoutes.ts
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
import {
  type AdminResponse,
  BadRequest,
  count,
  indexOf,
  jsonSafe,
  ok,
  percentDecoded,
  reasonOf,
  reply,
  roomOf,
  text,
} from "./adminHttp.js";
import { authorityRoute, type RoomAuthorityAdmin } from "./authorityRoutes.js";
import type { BanScope } from "./bans.js";
import type { RoomAdmin } from "./roomAdmin.js";
import { roomRoute } from "./roomRoutes.js";
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

export interface AdminApiOptions {
  moderation: Moderation;
  /** The configured token, read per request (SIGHUP may change it); "" disables the API. */
  token(): string;
  clock: Clock;
  /** Refusal records per minute (default 20). */
  refusalBurst?: number;
  /** Users and devices (identity/adminRoutes.ts); absent = those routes are 404. */
  identity?: IdentityAdmin;
  /**
   * Rooms: list, inspect, delete, and every audit chain (moderation/roomAdmin.ts); absent =
   * the rooms routes are 404 and /admin/audit reads the hub's chain only.
   */
  rooms?: RoomAdmin;
  /**
   * Federated rooms' authority: inspect, planned transfer (moderation/authorityRoutes.ts);
   * absent (federation disabled) = those routes are 404.
   */
  authority?: { federation: RoomAuthorityAdmin; counted?(result: string): void };
}

export { type AdminResponse, jsonSafe } from "./adminHttp.js";

const OPERATOR = /^[A-Za-z0-9_.@-]{1,64}$/;

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
    if (this.o.authority !== undefined) {
      const deps = { ...this.o.authority, audit: m.audit.bind(m) };
      const answer = await authorityRoute(deps, { ...req, body: b }, actor);
      if (answer !== undefined) return answer;
    }
    if (this.o.rooms !== undefined) {
      const answer = await roomRoute(this.o.rooms, { ...req, body: b }, actor);
      if (answer !== undefined) return answer;
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
      case "GET /admin/audit":
        return this.audit(req.query);
      case "GET /admin/bans":
        return ok({
          bans: m.bans.list().map((x) => ({ user: x.userId, scope: x.scope, room: x.roomId })),
        });
      default:
        return { status: 404, body: { error: "not_found", message: `no route ${key}` } };
    }
  }

  /**
   * The hub's chain at the top level (as before issue 16), and every chain — the hub's and
   * each worker shard's own — in `chains`, each paged by the same from/limit; `chain=NAME`
   * keeps only that one (404 when there is no such chain).
   */
  private async audit(query: URLSearchParams): Promise<AdminResponse> {
    const from = count(query.get("from") ?? 0, "from");
    const limit = Math.min(count(query.get("limit") ?? 1000, "limit"), 10_000);
    const log = this.o.moderation.auditLog(from, limit);
    const all = (await this.o.rooms?.auditChains(from, limit)) ?? [
      { chain: "hub", ...log, verification: log.verification },
    ];
    const name = query.get("chain");
    const chains = name === null ? all : all.filter((c) => c.chain === name);
    if (chains.length === 0) {
      return { status: 404, body: { error: "not_found", message: `no audit chain ${name}` } };
    }
    return ok({
      from,
      total: log.total,
      verification: log.verification,
      records: log.records.map(recordJson),
      chains: chains.map((c) => ({
        chain: c.chain,
        total: c.total,
        verification: c.verification,
        records: c.records.map(recordJson),
      })),
    });
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

function recordJson(r: AuditRecord): unknown {
  return { kind: r.kind, at: r.at, room: r.roomId, actor: r.actor, detail: r.detail };
}

function scopeOf(v: unknown): BanScope {
  if (v === undefined || v === "room") return "room";
  if (v === "hub") return "hub";
  throw new BadRequest('"scope" expected "room" or "hub"');
}
