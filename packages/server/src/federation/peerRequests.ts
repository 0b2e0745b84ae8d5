/**
 * What a peer's forwarded request must be (DESIGN §11): who may speak for which user, which
 * requests peers may forward, and the room's state as the authority answers it — moving
 * (TRANSFERRING with a retry hint) or sequenced by another hub (NOT_AUTHORITY).
 */
import {
  deriveSenderId,
  type Frame,
  isRoomRequest,
  isSequenced,
  Opcode,
  verifyFrame,
} from "@kalandra/proto";
import { domainOf } from "../identity/userId.js";
import { type Refusal, refuse } from "../vocabulary/outcome.js";
import type { AuthorityView } from "./contract.js";

/** What the rules read of the federation core. */
export interface RoomsView {
  readonly domain: string;
  readonly book: AuthorityView;
  transferring(roomId: bigint): bigint | undefined;
}

/** Hub requests a peer may forward besides room requests: claims and in-band moderation. */
const PEER_HUB_REQUESTS: ReadonlySet<number> = new Set([
  Opcode.KP_CLAIM,
  Opcode.KICK,
  Opcode.BAN,
  Opcode.REDACT,
]);

/**
 * Why a peer's forwarded request is refused, or undefined: it must name its user and
 * device, the user must be of the peer's domain, the device's signature must verify, and
 * it must be something a peer's user may ask here (not a room creation, not a room this
 * hub does not sequence).
 */
export function peerRequestProblem(
  fed: RoomsView,
  domain: string,
  inner: Frame,
  e: { user_id?: string; device_key?: Uint8Array },
): Refusal | undefined {
  const h = inner.header;
  if (e.user_id === undefined || e.device_key === undefined) {
    return refuse("BAD_PAYLOAD", "a forwarded request names its user and device");
  }
  if (domainOf(e.user_id) !== domain.toLowerCase()) {
    return refuse("FORBIDDEN", `${domain} does not speak for ${e.user_id}`);
  }
  if (deriveSenderId(e.device_key) !== h.senderId || !verifyFrame(inner, e.device_key)) {
    return refuse("BAD_SIGNATURE", "frame signature does not verify");
  }
  if (h.opcode === Opcode.ROOM_CREATE) {
    return refuse("FORBIDDEN", "rooms are created on their creator's home hub");
  }
  if (!isRoomRequest(h.opcode) && !PEER_HUB_REQUESTS.has(h.opcode)) {
    return refuse("FORBIDDEN", `opcode 0x${h.opcode.toString(16)} is not for peers`);
  }
  const moving = transferringRefusal(fed, h);
  if (moving !== undefined) return moving;
  const a = isRoomRequest(h.opcode) ? fed.book.authorityOf(h.roomId) : undefined;
  if (a !== undefined && a.domain !== fed.domain) {
    return { ...refuse("NOT_AUTHORITY", `${a.domain} is`), term: a.term };
  }
  return undefined;
}

/** TRANSFERRING with its retry hint for a write to a room this hub is handing over. */
export function transferringRefusal(
  fed: RoomsView,
  h: { opcode: number; roomId: bigint },
): Refusal | undefined {
  const wait = isSequenced(h.opcode) ? fed.transferring(h.roomId) : undefined;
  if (wait === undefined) return undefined;
  return { ...refuse("TRANSFERRING", "the room's authority is moving"), retryAfterMs: wait };
}
