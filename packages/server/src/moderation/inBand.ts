/**
 * In-band moderation (docs/protocol.md, opcodes KICK, BAN, REDACT "C→H (moderator)"):
 * devices of users named in `moderation.moderators` may do over the wire what operators do
 * through the admin API; a room's admins and owners (roomPolicy.ts) may kick, ban from the
 * room and redact in that room (DESIGN §10). Both by the session's user id, which the hub
 * authenticated. Anyone else gets FORBIDDEN, and the refusal is audited
 * (`moderation_refused`, rate-limited like the admin API's). Actions are audited with the
 * actor `user:<id>`.
 */
import type { Clock } from "@kalandra/proto";
import { Opcode } from "@kalandra/proto";
import { RefusalLimiter } from "../audit/refusals.js";
import type { InBandModeration, ModerationRequest } from "../hub/hubCore.js";
import { type Outcome, refuse } from "../vocabulary/outcome.js";
import type { Moderation } from "./service.js";

export interface InBandOptions {
  /** User ids allowed to moderate (read per request). */
  moderators(): readonly string[];
  /** The user's role in the room, undefined for a non-member (HubCore.roomRole). */
  roomRole?(roomId: bigint, userId: string): Promise<string | undefined>;
  clock: Clock;
  refusalBurst?: number;
}

const NAMES: Record<number, string> = {
  [Opcode.KICK]: "KICK",
  [Opcode.BAN]: "BAN",
  [Opcode.REDACT]: "REDACT",
};

export function inBandModeration(m: Moderation, o: InBandOptions): InBandModeration {
  const refusals = new RefusalLimiter(o.clock, o.refusalBurst ?? 20);
  return {
    async handle(req: ModerationRequest): Promise<Outcome> {
      const actor = `user:${req.userId}`;
      if (!o.moderators().includes(req.userId) && !(await roomAdminMay(o, req))) {
        const detail = refusals.admit({
          reason: "not_moderator",
          opcode: NAMES[req.request.opcode] ?? req.request.opcode,
        });
        if (detail !== undefined) await m.audit("moderation_refused", actor, req.roomId, detail);
        return { ok: false, refusal: refuse("FORBIDDEN", `${req.userId} is not a moderator`) };
      }
      const r = req.request;
      switch (r.opcode) {
        case Opcode.KICK: {
          const k = await m.kick(req.roomId, r.payload.user_id, r.payload.reason, actor);
          return k.ok ? { ok: true, ...last(k.logIndexes) } : k;
        }
        case Opcode.BAN: {
          // The payload schema admits only "room" and "hub" (proto).
          const scope = r.payload.scope;
          const room = scope === "room" ? req.roomId : undefined;
          const b = await m.ban(r.payload.user_id, scope, room, r.payload.reason, actor);
          return b.ok ? { ok: true, ...last(b.kicked.flatMap((x) => x.logIndexes)) } : b;
        }
        case Opcode.REDACT: {
          const d = await m.redact(req.roomId, r.payload.log_index, r.payload.reason, actor);
          return d.ok ? { ok: true, logIndex: d.noticeIndex } : d;
        }
      }
    },
  };
}

/** A room admin's reach: KICK, room-scoped BAN and REDACT in its own room. */
async function roomAdminMay(o: InBandOptions, req: ModerationRequest): Promise<boolean> {
  if (o.roomRole === undefined) return false;
  if (req.request.opcode === Opcode.BAN && req.request.payload.scope !== "room") return false;
  const role = await o.roomRole(req.roomId, req.userId);
  return role === "admin" || role === "owner";
}

function last(indexes: readonly bigint[]): { logIndex?: bigint } {
  const i = indexes[indexes.length - 1];
  return i === undefined ? {} : { logIndex: i };
}
