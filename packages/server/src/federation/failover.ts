/**
 * Failover on real hubs (DESIGN §11, issue 18): what roomTransfers.ts asks before a voter
 * proposes itself, and what a deposed authority does with its log.
 *
 * - A voter may take a room over only with the room's state as of its log's last entry
 *   (the authority sends it with each frame that changed it, and at the end of a catch-up
 *   page): `stateIsCurrent` compares the stored state's HLC stamp with the last entry that
 *   changes state.
 * - A deposed authority (or any hub) whose log runs past where the new term starts holds a
 *   tail no majority kept: it is never served. The log is erased (every payload's key
 *   destroyed: cryptographic erasure) and dropped, and the replica fetches the room's log
 *   again from the new authority (storage has no partial truncation).
 */
import { FrameHeader, Opcode } from "@kalandra/proto";
import { decodeRoomState } from "../sequencer/roomState.js";
import type { Storage } from "../storage/types.js";

/** Opcodes whose sequencing changes the room's state (sequencer/roomSequencer.ts). */
const STATE_OPCODES: ReadonlySet<number> = new Set([
  Opcode.ROOM_CREATE,
  Opcode.PROPOSAL,
  Opcode.COMMIT,
  Opcode.EXTERNAL_COMMIT,
  Opcode.ROOM_POLICY,
]);

/** How far back the last state change is looked for before giving up (no takeover). */
const MAX_SCAN = 65_536n;
const PAGE = 256;

/** True when the stored room state is the one after the log's last state-changing entry. */
export function stateIsCurrent(storage: Storage, roomId: bigint): boolean {
  const bytes = storage.getRoomState(roomId);
  if (bytes === undefined) return false;
  const hlc = decodeRoomState(bytes).hlc;
  const head = storage.nextIndex(roomId);
  for (let end = head; end > 0n && head - end < MAX_SCAN; ) {
    const from = end > BigInt(PAGE) ? end - BigInt(PAGE) : 0n;
    const frames = storage.readRange(roomId, from, Number(end - from));
    for (let i = frames.length - 1; i >= 0; i--) {
      const h = FrameHeader.view(frames[i]!.header);
      if (STATE_OPCODES.has(h.opcode)) return h.hlcTimestamp === hlc;
    }
    end = from;
  }
  return false;
}

/**
 * Erases and drops the room's log when it runs past `nextIndex` (where the new authority's
 * term starts); the number of entries given up, 0 when there was no such tail.
 */
export async function discardTail(
  storage: Storage,
  roomId: bigint,
  nextIndex: bigint,
): Promise<bigint> {
  const head = storage.nextIndex(roomId);
  if (head <= nextIndex) return 0n;
  for (;;) {
    const live = storage.livePayloads(roomId, 0n, 1024);
    if (live.length === 0) break;
    for (const i of live) await storage.secureDelete(roomId, i);
  }
  await storage.dropRoomLog(roomId);
  return head - nextIndex;
}
