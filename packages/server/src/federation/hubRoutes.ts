/**
 * Where the hub core sends a local user's request when federation is on (DESIGN §11): a
 * request to a room another hub sequences goes to that authority (sync is served from the
 * replica), and so does in-band moderation of such a room (KICK, REDACT, a room BAN); a
 * key-package claim for another domain's user goes to that user's home hub.
 * Everything else stays on this hub. The hub core's own checks (bans, credentials bound to
 * identity) have run before, so a participating hub's bans apply to what it relays.
 */
import { decodePayload, type Frame, isProtocolError, isRoomRequest, Opcode } from "@kalandra/proto";
import { domainOf } from "../identity/userId.js";
import type { SequencerLimits } from "../sequencer/env.js";
import { syncPage } from "../sequencer/queries.js";
import type { Storage } from "../storage/types.js";
import { type Outcome, refuse } from "../vocabulary/outcome.js";
import { type FederationCore, type PeerRequester, transferringRefusal } from "./federationCore.js";

export interface RouteContext {
  federation: FederationCore;
  storage: Storage;
  limits: SequencerLimits;
}

/** The outcome when federation took the request, undefined when it is this hub's. */
export function routeFederated(
  c: RouteContext,
  sessionId: string,
  from: PeerRequester,
  frame: Frame,
): Outcome | undefined {
  const fed = c.federation;
  const h = frame.header;
  if (h.opcode === Opcode.KP_CLAIM) {
    const domain = domainOf(decodePayload(Opcode.KP_CLAIM, frame.payload).user_id);
    if (domain === undefined || domain === fed.domain.toLowerCase()) return undefined;
    return fed.forward(sessionId, frame, from, domain);
  }
  if (isRoomModeration(frame)) {
    // Carried out where the room is sequenced: only its authority can erase or remove.
    const authority = fed.book.authorityOf(h.roomId);
    if (authority === undefined || authority.domain === fed.domain) return undefined;
    const wait = fed.transferring(h.roomId);
    if (wait !== undefined) {
      const moving = refuse("TRANSFERRING", "the room's authority is moving");
      return fed.refuse(sessionId, frame, { ...moving, retryAfterMs: wait });
    }
    return fed.forward(sessionId, frame, from, authority.domain);
  }
  if (!isRoomRequest(h.opcode)) return undefined;
  // While the room moves, here or to here: the client retries after the hint.
  const moving = transferringRefusal(fed, h);
  if (moving !== undefined) return fed.refuse(sessionId, frame, moving);
  const authority = fed.book.authorityOf(h.roomId);
  if (authority === undefined || authority.domain === fed.domain) return undefined;
  if (h.opcode === Opcode.ROOM_CREATE) {
    return fed.refuse(sessionId, frame, refuse("ROOM_EXISTS", `room ${h.roomId} exists`));
  }
  if (h.opcode === Opcode.SYNC_REQUEST) {
    return fed.serveSync(sessionId, frame, from, (roomId, start, limit) =>
      syncPage({ storage: c.storage, limits: c.limits }, roomId, start, limit),
    );
  }
  return fed.forward(sessionId, frame, from, authority.domain);
}

/**
 * In-band moderation of one room (KICK, REDACT, a room-scoped BAN): the room's authority
 * carries it out (peers may forward these, peerRequests.ts). A hub-wide BAN is this hub's.
 */
function isRoomModeration(frame: Frame): boolean {
  const op = frame.header.opcode;
  if (op === Opcode.KICK || op === Opcode.REDACT) return true;
  if (op !== Opcode.BAN) return false;
  try {
    return decodePayload(Opcode.BAN, frame.payload).scope === "room";
  } catch (e) {
    // Answered here (BAD_PAYLOAD, hubRequests.ts) like any payload that does not decode.
    if (isProtocolError(e)) return false;
    throw e;
  }
}
