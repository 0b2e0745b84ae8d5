/**
 * The rooms part of the operators' admin API (moderation/adminApi.ts authenticates the
 * operator; moderation/roomAdmin.ts does the work):
 *
 *   GET  /admin/rooms?after=&limit=     rooms (not deleted) by id, a page at a time
 *   GET  /admin/rooms/:id               one room, deleted ones too ("status": "deleted")
 *   POST /admin/rooms/delete            {room, drop_headers?, reason?}  erase every message
 *
 * Room ids in the path and the body are decimal or 0x-hex strings; answers carry them, log
 * indexes and times as decimal strings.
 */
import type { RoomInfo } from "../shards/roomAdmin.js";
import {
  type AdminResponse,
  BadRequest,
  count,
  ok,
  percentDecoded,
  reasonOf,
  reply,
  roomOf,
} from "./adminHttp.js";
import type { RoomAdmin } from "./roomAdmin.js";

export interface RoomRouteRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: Record<string, unknown>;
}

/** Most rooms in one page of GET /admin/rooms (each is read from its shard, sizes included). */
export const ROOM_PAGE_MAX = 1000;

/** A room as the admin API shows it. */
export function roomJson(info: RoomInfo, authority: ReturnType<RoomAdmin["authorityOf"]>): unknown {
  const last = info.nextIndex > 0n ? info.nextIndex - 1n : undefined;
  return {
    room: info.roomId,
    status: info.deletedAt === undefined ? "active" : "deleted",
    shard: info.shard,
    created_at: info.createdAt,
    creator: info.creator,
    deleted_at: info.deletedAt,
    epoch: info.epoch,
    members: info.members,
    users: info.users,
    pending_proposals: info.pendingProposals,
    join_rule: info.joinRule,
    owners: info.owners,
    admins: info.admins,
    invites: info.invites,
    next_index: info.nextIndex,
    last_log_index: last ?? null,
    frames: info.usage.frames,
    live_payloads: info.usage.livePayloads,
    size_bytes: info.usage.bytes,
    // This hub, or the hub a federated room moved to (its key is the peer's pinned one).
    authority: { domain: authority.domain, hub_key: authority.hubKey, term: authority.term },
  };
}

function dropHeadersOf(v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== "boolean") throw new BadRequest('"drop_headers" expected a boolean');
  return v;
}

/** Answers a rooms route, or undefined when the path is not one of them. */
export async function roomRoute(
  rooms: RoomAdmin,
  req: RoomRouteRequest,
  actor: string,
): Promise<AdminResponse | undefined> {
  const key = `${req.method} ${req.path}`;
  if (key === "GET /admin/rooms") {
    const after = req.query.get("after");
    const limit = count(req.query.get("limit") ?? 100, "limit");
    if (limit < 1 || limit > ROOM_PAGE_MAX) {
      throw new BadRequest(`"limit" expected 1..${ROOM_PAGE_MAX}`);
    }
    const page = await rooms.list(after === null ? undefined : roomOf(after), limit);
    const last = page.at(-1);
    return ok({
      rooms: page.map((r) => roomJson(r, rooms.authorityOf(r.roomId))),
      // Where the next page starts; absent on the last one.
      next: page.length === limit && last !== undefined ? last.roomId : undefined,
    });
  }
  if (key === "POST /admin/rooms/delete") {
    const b = req.body;
    const r = await rooms.delete(
      roomOf(b.room),
      { dropHeaders: dropHeadersOf(b.drop_headers), reason: reasonOf(b) },
      actor,
    );
    if (!r.ok) return reply(r);
    return ok({
      ok: true,
      erased: r.erased,
      dropped_headers: r.droppedHeaders,
      again: r.again,
    });
  }
  const one = /^\/admin\/rooms\/([^/]+)$/.exec(req.path);
  if (req.method === "GET" && one !== null) {
    const roomId = roomOf(percentDecoded(one[1] as string));
    const info = await rooms.inspect(roomId);
    if (info === undefined) {
      return { status: 404, body: { error: "UNKNOWN_ROOM", message: `no room ${roomId}` } };
    }
    return ok(roomJson(info, rooms.authorityOf(roomId)));
  }
  return undefined;
}
