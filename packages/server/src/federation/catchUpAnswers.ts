/**
 * A replica's catch-up request (SYNC_REQUEST in an envelope) at the hub that sequences the
 * room or hands it over (part of the federation core, federationCore.ts): answered from
 * this hub's log, with where each term starts and, on the log's last page, the room's
 * state (a replica's way to failover); refused by a hub that may not answer, so the
 * replica asks again elsewhere.
 */
import {
  type DeviceSigner,
  decodePayload,
  errorFrame,
  type Frame,
  Opcode,
  type ProtocolErrorCode,
  responseFrame,
} from "@kalandra/proto";
import { refuse } from "../vocabulary/outcome.js";
import type { AuthorityBook } from "./authorityBook.js";
import type { LocalHub } from "./coreDeps.js";
import type { EnvelopeExtra } from "./ports.js";
import type { RoomFacts } from "./roomFacts.js";
import type { RoomTransfers } from "./roomTransfers.js";

export interface CatchUpAnswersDeps {
  self: string;
  signer: DeviceSigner;
  book: AuthorityBook;
  facts: RoomFacts;
  transfers: RoomTransfers;
  local(): LocalHub | undefined;
  isRemoteRoom(roomId: bigint): boolean;
  send(domain: string, frame: Uint8Array, extra: EnvelopeExtra): void;
  count(code: ProtocolErrorCode): void;
}

/**
 * A replica's catch-up request, answered from this hub's log of the room it sequences or
 * hands over, or for the hub it handed the room to (the new authority fetches the tail
 * before it installs the room, also after this hub restarted); else refused, so the
 * replica may ask again elsewhere.
 */
export async function answerCatchUp(
  d: CatchUpAnswersDeps,
  domain: string,
  inner: Frame,
): Promise<void> {
  const h = inner.header;
  const a = d.book.authorityOf(h.roomId);
  const role = d.transfers.status(h.roomId)?.role;
  // Elected but still fetching the log's end: its log (or its sequencer's, from an earlier
  // term) is short of the room's; the hub handing over would give its own up for it
  // (fed_hubs_transfer seed 359).
  if (role === "awaiting_handover") {
    d.count("TRANSFERRING");
    const refusal = refuse("TRANSFERRING", "the room is being handed to this hub");
    d.send(domain, errorFrame(h, refusal), { to: [0n] });
    return;
  }
  // The hub this one handed the room to may fetch the tail (also after a restart, the
  // transfer in memory lost); a mere replica answers no one, not even the authority it
  // follows (fed_hubs_transfer seed 359: a replica whose sequencer still held the room from
  // an earlier term answered the hub handing over with its shorter log, which that hub
  // then took for the new authority's and gave its own log up for).
  const rec = d.transfers.record(h.roomId);
  const p = rec?.certificate?.proposal;
  const handedTo = rec?.authority === domain && p?.kind === "planned" && p.from === d.self;
  const handing = role === "handing_over" || handedTo;
  if (d.isRemoteRoom(h.roomId) && !handing) {
    d.count("NOT_AUTHORITY");
    d.send(domain, errorFrame(h, refuse("NOT_AUTHORITY", `${a?.domain} is`)), { to: [0n] });
    return;
  }
  const { from, limit } = decodePayload(Opcode.SYNC_REQUEST, inner.payload);
  const page = await d.local()?.syncPage(h.roomId, from, limit);
  const answer =
    page === undefined
      ? errorFrame(h, refuse("UNKNOWN_ROOM", "no such room"))
      : responseFrame(d.signer, h, Opcode.SYNC_PAGE, page);
  // A page that ends the log carries the room's state there (a replica's way to failover).
  let roomState: Uint8Array | undefined;
  if (page !== undefined && page.entries.length > 0 && page.next === page.head) {
    const room = await d.local()?.handoverOf?.(h.roomId);
    if (room?.nextIndex === page.head) roomState = room.roomState;
  }
  // Where each term starts in this log: the replica learns every fetched entry's term.
  const termStarts = d.facts.starts(h.roomId);
  const state = roomState === undefined ? {} : { roomState };
  d.send(domain, answer, { to: [0n], termStarts, ...state });
}
