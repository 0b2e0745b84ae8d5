/**
 * Reads of a room that change nothing (DESIGN §4): the GroupInfo joiners and resyncing
 * members fetch, and pages of the durable log for members catching up by sync.
 */
import type { PayloadOf } from "@kalandra/proto";
import { canary, type Opcode } from "@kalandra/proto";
import type { SequencerEnv } from "./env.js";
import type { RoomState } from "./roomState.js";
import { syncWindow } from "./rules.js";

/** GROUP_INFO: the committer's GroupInfo for the room's current epoch. */
export function groupInfoOf(state: RoomState): PayloadOf<typeof Opcode.GROUP_INFO> {
  return { epoch: state.epoch, group_info: state.groupInfo };
}

/** SYNC_PAGE: durable frames from `from` on, at most a page (rules.ts `syncWindow`). */
export function syncPage(
  env: SequencerEnv,
  roomId: bigint,
  from: bigint,
  limit: number,
): PayloadOf<typeof Opcode.SYNC_PAGE> {
  const head = env.storage.nextIndex(roomId);
  const window = syncWindow(from, limit, head, env.limits.syncPageLimit);
  const frames = env.storage.readRange(roomId, from, window);
  if (canary("sync_drops_last")) frames.pop(); // simulation-only planted bug (DESIGN §8)
  const entries = frames.map((f) => ({ header: f.header, payload: f.payload }));
  const next = frames.length > 0 ? frames[frames.length - 1]!.logIndex + 1n : from;
  return { entries, next, head };
}
