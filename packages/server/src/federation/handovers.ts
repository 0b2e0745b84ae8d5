/**
 * The handover of a planned transfer (DESIGN §11) as the old authority sends it: where its
 * log ends, the room's state and metadata (roomTransfers.ts), and sent again after this
 * hub restarted mid-transfer, when the link to the new authority comes (back) up; and where
 * the log of a room this hub sequences ends (a reclaim's position).
 */
import { certFrame, type Handover } from "./authority/authorityFrames.js";
import type { RoomAuthorityStatus, TransferHost } from "./transferTypes.js";

/** The room's handover from this hub's shard, or undefined when it has no such room. */
export async function handoverOf(h: TransferHost, roomId: bigint): Promise<Handover | undefined> {
  const room = await h.local()?.handoverOf?.(roomId);
  if (room === undefined) return undefined;
  return {
    nextIndex: room.nextIndex,
    roomState: room.roomState,
    createdAt: room.meta.createdAt,
    ...(room.meta.creator === undefined ? {} : { creator: room.meta.creator }),
  };
}

/**
 * A room that never moved and that only this hub's shard holds (worker shards keep their own
 * storage; no term record or book entry names it): this hub sequences it in term 0.
 */
export async function shardRoomStatus(
  h: TransferHost,
  roomId: bigint,
): Promise<RoomAuthorityStatus | undefined> {
  const room = await h.local()?.handoverOf?.(roomId);
  if (room === undefined) return undefined;
  return { authority: h.self, term: 0n, role: "sequencer", commitIndex: room.nextIndex };
}

/**
 * Where the log of a room this hub sequences ends: in its shard when the shards keep their
 * own storage (worker shards: the main storage's copy stopped growing when this hub took
 * the room), else the storage's, synchronously (in process, one storage).
 */
export function logEnd(h: TransferHost, roomId: bigint): bigint | Promise<bigint> {
  const main = h.storage.nextIndex(roomId);
  const shard = h.local()?.shardLogEnd;
  if (shard === undefined) return main;
  return shard(roomId).then((end) => (end !== undefined && end > main ? end : main));
}

/**
 * Rooms this hub handed to `domain` by a planned transfer and no longer has in flight
 * (`busy`: a restart lost it): the certificate and handover again, since the new
 * authority may never have had them. One that did answers AUTHORITY_COMMIT again; one that
 * moved on to a later term ignores them.
 */
export async function resendHandovers(
  h: TransferHost,
  domain: string,
  busy: (roomId: bigint) => boolean,
): Promise<void> {
  for (const roomId of h.book.knownRooms()) {
    const rec = h.records.get(roomId);
    const cert = rec?.certificate;
    const p = cert?.proposal;
    if (cert === undefined || p?.kind !== "planned" || p.from !== h.self || p.to !== domain) {
      continue;
    }
    if (rec?.authority !== domain || busy(roomId)) continue;
    const handover = await handoverOf(h, roomId);
    if (handover !== undefined) h.send(domain, certFrame(h.signer, cert, handover));
  }
}
