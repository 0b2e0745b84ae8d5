/**
 * Reads of a room that change nothing (DESIGN §4): the GroupInfo joiners and resyncing
 * members fetch, and pages of the durable log for members catching up by sync.
 */
import type { PayloadOf } from "@kalandra/proto";
import { canary, type Opcode, syncEntrySize } from "@kalandra/proto";
import type { StoredFrame } from "../storage/types.js";
import type { SequencerEnv } from "./env.js";
import type { RoomState } from "./roomState.js";
import { syncWindow } from "./rules.js";

/** GROUP_INFO: the committer's GroupInfo for the room's current epoch. */
export function groupInfoOf(state: RoomState): PayloadOf<typeof Opcode.GROUP_INFO> {
  return { epoch: state.epoch, group_info: state.groupInfo };
}

/** Entries read from storage at a time while a page fills (most pages stop on the count). */
const READ_CHUNK = 32;

/**
 * SYNC_PAGE: durable frames from `from` on, at most a page (rules.ts `syncWindow`) and at
 * most `syncPageBytes` of entries, the first entry always included whatever its size: the
 * sequencer bounds every payload so that one entry fits a frame (`maxSequencedPayload`),
 * and a client asking for more than a page gets `next` to continue from.
 */
export function syncPage(
  env: Pick<SequencerEnv, "storage" | "limits">,
  roomId: bigint,
  from: bigint,
  limit: number,
): PayloadOf<typeof Opcode.SYNC_PAGE> {
  const head = env.storage.nextIndex(roomId);
  const window = syncWindow(from, limit, head, env.limits.syncPageLimit);
  const frames: StoredFrame[] = [];
  let bytes = 0;
  let at = from;
  fill: while (frames.length < window) {
    const chunk = env.storage.readRange(roomId, at, Math.min(READ_CHUNK, window - frames.length));
    if (chunk.length === 0) break;
    for (const f of chunk) {
      const size = syncEntrySize(f.payload?.length ?? 0);
      if (frames.length > 0 && bytes + size > env.limits.syncPageBytes) break fill;
      frames.push(f);
      bytes += size;
    }
    at = chunk[chunk.length - 1]!.logIndex + 1n;
  }
  if (canary("sync_drops_last")) frames.pop(); // simulation-only planted bug (DESIGN §8)
  const entries = frames.map((f) => ({ header: f.header, payload: f.payload }));
  const next = frames.length > 0 ? frames[frames.length - 1]!.logIndex + 1n : from;
  return { entries, next, head };
}
