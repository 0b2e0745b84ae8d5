/**
 * Keeping a room on the hub's order (DESIGN §4, §7): sequenced frames are applied strictly
 * by log_index; frames that arrive ahead wait in a bounded buffer; a gap, a reconnect or
 * the periodic timer asks the hub for everything after the last applied index, in pages
 * (SYNC_REQUEST → SYNC_PAGE). The state is persisted after every applied frame.
 *
 * Queue discipline: `ingest`, `acceptOwn` and `#drain` run on the client's serial queue;
 * `syncRoom` and `waitApplied` wait for the hub and must be called from outside it.
 */
import { canary, Opcode, stampFrame } from "@kalandra/proto";
import { type ApplyContext, applySequenced } from "./apply.js";
import type { HubRequests } from "./hubLink.js";
import type { Room } from "./room.js";
import {
  fieldArray,
  fieldBytes,
  fieldU64,
  parseEntry,
  parseFrame,
  payloadOf,
  type ReceivedFrame,
} from "./wire.js";

/** Most frames held ahead of a gap per room; more are dropped and fetched by sync. */
export const MAX_AHEAD = 4096;

export interface SyncDeps {
  readonly ctx: ApplyContext;
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** A request whose answer must be an ACK-like success (throws the hub's ERROR). */
  request: HubRequests["request"];
  persist(room: Room, mls: boolean): Promise<void>;
  /** Called (on the queue) when the room can no longer follow the log. */
  onDiverged(room: Room): void;
  readonly pageSize: number;
}

export class RoomSync {
  readonly #d: SyncDeps;
  readonly #running = new Map<bigint, Promise<void>>();

  constructor(deps: SyncDeps) {
    this.#d = deps;
  }

  /** A sequenced frame from the fan-out. On the queue. */
  async ingest(room: Room, f: ReceivedFrame): Promise<void> {
    if (room.state === undefined || room.removed) return;
    if (f.header.logIndex < room.nextIndex || room.ahead.size >= MAX_AHEAD) return;
    // canary: simulation-only planted bug (DESIGN §8), a commit applied ahead of its turn.
    if (canary("client_reorder_apply") && f.header.opcode === Opcode.COMMIT)
      room.nextIndex = f.header.logIndex;
    room.ahead.set(f.header.logIndex, f);
    await this.#drain(room);
  }

  /** Places an own frame the hub accepted at its log_index. On the queue. */
  async acceptOwn(room: Room, frameBytes: Uint8Array, ack: ReceivedFrame): Promise<void> {
    if (ack.header.logIndex < room.nextIndex) return;
    room.ahead.set(
      ack.header.logIndex,
      parseFrame(stampFrame(frameBytes, ack.header.logIndex, ack.header.hlcTimestamp)),
    );
    await this.#drain(room);
  }

  /** Resolves once the room applied `logIndex` (syncing while a gap is in the way). */
  async waitApplied(room: Room, logIndex: bigint): Promise<void> {
    for (let i = 0; i < 8 && room.nextIndex <= logIndex && !room.removed; i++)
      await this.syncRoom(room);
  }

  /** Applies everything the hub has past the room's last applied log_index. */
  syncRoom(room: Room): Promise<void> {
    const running = this.#running.get(room.roomId);
    if (running !== undefined) return running;
    const p = this.#loop(room).finally(() => this.#running.delete(room.roomId));
    this.#running.set(room.roomId, p);
    return p;
  }

  async #loop(room: Room): Promise<void> {
    for (let page = 0; page < 100_000 && !room.removed; page++) {
      const from = room.nextIndex;
      const resp = await this.#d.request(Opcode.SYNC_REQUEST, room.roomId, room.epoch, {
        from,
        limit: this.#d.pageSize,
      });
      const p = payloadOf(resp);
      const head = fieldU64(p, "head");
      const entries = fieldArray(p, "entries");
      await this.#d.run(async () => {
        for (const e of entries) {
          const entry = e as Record<string, unknown>;
          const payload = entry.payload;
          let f: ReceivedFrame;
          try {
            f = parseEntry(
              fieldBytes(entry, "header"),
              payload instanceof Uint8Array ? payload : null,
            );
          } catch {
            continue;
          }
          if (
            f.header.roomId === room.roomId &&
            f.header.logIndex >= room.nextIndex &&
            !room.ahead.has(f.header.logIndex)
          )
            room.ahead.set(f.header.logIndex, f);
        }
        await this.#drain(room);
      });
      if (room.nextIndex >= head) break;
      if (room.nextIndex === from) break; // nothing usable came back: stop, retry later
    }
    room.synced = true;
  }

  /** Applies every contiguous frame from `nextIndex`; a remaining gap starts a sync. */
  async #drain(room: Room): Promise<void> {
    for (;;) {
      const f = room.ahead.get(room.nextIndex);
      if (f === undefined) break;
      room.ahead.delete(room.nextIndex);
      const changed = await applySequenced(this.#d.ctx, room, f);
      room.nextIndex = f.header.logIndex + 1n;
      await this.#d.persist(room, changed);
      if (room.diverged) {
        room.ahead.clear();
        this.#d.onDiverged(room);
        return;
      }
      if (room.removed) {
        room.ahead.clear();
        return;
      }
    }
    for (const k of room.ahead.keys()) if (k < room.nextIndex) room.ahead.delete(k);
    if (room.ahead.size > 0) void this.syncRoom(room).catch(() => undefined);
  }
}
