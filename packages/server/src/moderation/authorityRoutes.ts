/**
 * The room-authority part of the operators' admin API (DESIGN §11, docs/federation.md
 * "Moving a room"): moderation/adminApi.ts authenticates the operator, the federation core
 * (federation/federationCore.ts) does the work.
 *
 *   GET  /admin/rooms/:id/authority     the room's authority as this hub knows it:
 *                                       {room, authority, term, role, commit_index}
 *   POST /admin/rooms/transfer          {room, to, reason?}  planned transfer to hub `to`
 *
 * A transfer is asked of the room's current authority (this hub); it answers once the
 * handover certificate is formed and the room moved (200 {ok, room, to, term}), or with the
 * typed refusal of the federation core (NOT_AUTHORITY when another hub sequences the room,
 * PEER_NOT_CONFIGURED / PEER_UNREACHABLE for `to`, UNKNOWN_ROOM, a transfer already under
 * way...). Every call is audited (`room_transfer_requested`, the operator as actor, the
 * outcome in the detail); the votes and the transfer itself are audited by the core.
 */
import type { ProtocolErrorCode } from "@kalandra/proto";
import type {
  RoomAuthorityStatus,
  TransferResult as TransferOutcome,
} from "../federation/transferTypes.js";
import {
  type AdminResponse,
  BadRequest,
  ok,
  percentDecoded,
  reasonOf,
  roomOf,
} from "./adminHttp.js";

export type { RoomAuthorityStatus, TransferOutcome };

/** What these routes ask of federation (`FederationCore` has it). */
export interface RoomAuthorityAdmin {
  readonly domain: string;
  transfer(roomId: bigint, to: string): Promise<TransferOutcome>;
  /** Also a room that never moved (its creating hub, term 0), as FederationCore.roomAuthorityOf. */
  roomAuthority(roomId: bigint): Promise<RoomAuthorityStatus | undefined>;
}

export interface AuthorityRoutesDeps {
  federation: RoomAuthorityAdmin;
  audit(
    kind: string,
    actor: string,
    roomId: bigint,
    detail: Record<string, unknown>,
  ): Promise<void>;
  /** Told of each transfer asked here, by result ("ok" or the refusal code): metrics. */
  counted?(result: string): void;
}

/** HTTP status of a refused transfer: whose mistake, or what to wait for. */
const TRANSFER_STATUS: Partial<Record<ProtocolErrorCode, number>> = {
  UNKNOWN_ROOM: 404,
  PEER_NOT_CONFIGURED: 404,
  PEER_BLOCKED: 403,
  FORBIDDEN: 403,
  BAD_PAYLOAD: 400,
  FEDERATION_DISABLED: 404,
  PEER_UNREACHABLE: 503,
  TRANSFERRING: 409,
  INTERNAL: 500,
};

const DOMAIN = /^[a-z0-9.-]{1,253}$/;

export function statusJson(roomId: bigint, s: RoomAuthorityStatus): unknown {
  return {
    room: roomId,
    authority: s.authority,
    term: s.term,
    role: s.role,
    commit_index: s.commitIndex,
  };
}

/** Answers an authority route, or undefined when the path is not one of them. */
export async function authorityRoute(
  d: AuthorityRoutesDeps,
  req: { method: string; path: string; body: Record<string, unknown> },
  actor: string,
): Promise<AdminResponse | undefined> {
  const one = /^\/admin\/rooms\/([^/]+)\/authority$/.exec(req.path);
  if (req.method === "GET" && one !== null) {
    const roomId = roomOf(percentDecoded(one[1] as string));
    const s = await d.federation.roomAuthority(roomId);
    if (s === undefined) {
      return {
        status: 404,
        body: { error: "UNKNOWN_ROOM", message: `room ${roomId} is not federated here` },
      };
    }
    return ok(statusJson(roomId, s));
  }
  if (req.method !== "POST" || req.path !== "/admin/rooms/transfer") return undefined;
  const roomId = roomOf(req.body.room);
  const to = typeof req.body.to === "string" ? req.body.to.toLowerCase() : "";
  if (!DOMAIN.test(to)) throw new BadRequest('"to" expected a peer hub\'s domain');
  const reason = reasonOf(req.body);
  const r = await d.federation.transfer(roomId, to);
  d.counted?.(r.ok ? "ok" : r.code);
  await d.audit("room_transfer_requested", actor, roomId, {
    to,
    reason,
    result: r.ok ? "ok" : r.code,
    ...(r.ok ? { term: r.term.toString() } : { message: r.message }),
  });
  if (r.ok) return ok({ ok: true, room: roomId, to, term: r.term });
  const status = TRANSFER_STATUS[r.code] ?? 409;
  return { status, body: { ok: false, error: r.code, message: r.message } };
}
