/**
 * The operator's rooms (issue 16, admin API): list and inspect rooms, delete one, the rooms
 * a user or a device is in, and every audit chain of the hub. Each shard answers for the
 * rooms it owns (shards/roomAdmin.ts); this object merges the answers and audits the
 * actions in the hub's chain, like every moderation action (moderation/service.ts).
 *
 * Room deletion erases every payload of the room through the vault's erase path (the shard
 * calls `storage.secureDelete` for each, DESIGN §5) and keeps the headers unless asked to
 * drop them; the room then answers as deleted. It is idempotent: a second call finishes an
 * interrupted deletion or drops the headers a first one kept.
 *
 * @example
 * const rooms = new RoomAdmin({ shards: hub.shards, audit: mod.audit.bind(mod), ... });
 * await rooms.delete(roomId, { dropHeaders: false, reason: "abuse" }, "admin:ops");
 */
import { askAllShards, askShard } from "../shards/askShards.js";
import type { AuditPage, RoomDeletion, RoomInfo } from "../shards/roomAdmin.js";
import { shardOf } from "../shards/shardOf.js";
import type { ShardSet } from "../shards/shardSet.js";
import type { Storage } from "../storage/types.js";
import { refuse } from "../vocabulary/outcome.js";
import type { Result } from "./service.js";

export interface RoomAdminDeps {
  shards: ShardSet;
  /** Appends a record to the hub's audit chain (Moderation.audit). */
  audit(
    kind: string,
    actor: string,
    roomId: bigint | undefined,
    detail: Record<string, unknown>,
  ): Promise<void>;
  /** The hub's own storage: its audit chain and the Welcome inbox. */
  storage: Pick<Storage, "readAudit" | "verifyAudit" | "welcomesFor" | "removeWelcome">;
  /**
   * Each shard keeps an audit chain of its own (worker shards, each over its own
   * directory); false when the shards share the hub's storage (in-process runtime).
   */
  shardChains: boolean;
  /** This hub: every room's authority unless federation says otherwise (`federated`). */
  authority: { domain: string; hubKey: string };
  /** A federated room's authority and term as the federation core knows it (DESIGN §11). */
  federated?: (roomId: bigint) => { authority: string; term: bigint } | undefined;
  /** Told after a room was deleted (the hub's room quota). */
  onDeleted?: (creator: string | undefined) => void;
}

/** One audit chain: "hub" (moderation records) or "shard-<i>" (that shard's erasures). */
export interface AuditChain extends AuditPage {
  chain: string;
}

export interface DeleteOptions {
  dropHeaders: boolean;
  reason: string;
}

const byBigint = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

export class RoomAdmin {
  constructor(private readonly d: RoomAdminDeps) {}

  /** The room's authority (with its hub key when it is this hub) and term. */
  authorityOf(roomId: bigint): { domain: string; hubKey?: string; term: bigint } {
    const f = this.d.federated?.(roomId);
    if (f === undefined || f.authority === this.d.authority.domain) {
      return { ...this.d.authority, term: f?.term ?? 0n };
    }
    return { domain: f.authority, term: f.term };
  }

  /** Rooms (not deleted) with ids above `after`, ascending, at most `limit`. */
  async list(after: bigint | undefined, limit: number): Promise<RoomInfo[]> {
    const ids = (await askAllShards<bigint>(this.d.shards, { q: "rooms" }))
      .filter((id) => after === undefined || id > after)
      .sort(byBigint)
      .slice(0, limit);
    const byShard = new Map<number, bigint[]>();
    for (const id of ids) {
      const shard = shardOf(id, this.d.shards.count);
      byShard.set(shard, [...(byShard.get(shard) ?? []), id]);
    }
    const infos = await Promise.all(
      [...byShard].map(([shard, roomIds]) =>
        askShard<RoomInfo[]>(this.d.shards, shard, { q: "roomInfo", roomIds }),
      ),
    );
    return infos.flat().sort((a, b) => byBigint(a.roomId, b.roomId));
  }

  /** One room, deleted ones included; undefined when there never was such a room. */
  async inspect(roomId: bigint): Promise<RoomInfo | undefined> {
    const [info] = await askShard<RoomInfo[]>(this.d.shards, this.owner(roomId), {
      q: "roomInfo",
      roomIds: [roomId],
    });
    return info;
  }

  /** Deletes the room (see the module comment); audited in the hub's chain. */
  async delete(roomId: bigint, o: DeleteOptions, actor: string): Promise<Result<RoomDeletion>> {
    const before = await this.inspect(roomId);
    if (before === undefined) {
      return { ok: false, refusal: refuse("UNKNOWN_ROOM", `no room ${roomId}`) };
    }
    const r = await this.d.shards.deliver(this.owner(roomId), {
      t: "deleteRoom",
      roomId,
      dropHeaders: o.dropHeaders,
      actor,
    });
    if (r === undefined) return { ok: false, refusal: refuse("INTERNAL", "no outcome") };
    if (!r.ok) return r;
    const done = (r as unknown as { data: RoomDeletion }).data;
    if (!done.again) this.d.onDeleted?.(before.creator);
    const welcomes = await this.dropWelcomes(roomId, done.members);
    await this.d.audit("room_delete", actor, roomId, {
      reason: o.reason,
      drop_headers: o.dropHeaders,
      erased: done.erased,
      dropped_headers: done.droppedHeaders,
      again: done.again,
      next_index: before.nextIndex,
      welcomes,
    });
    return { ok: true, ...done };
  }

  /**
   * The Welcomes to the room still waiting in its members' inboxes (offline invitees): they
   * would let a device join a room that no longer exists. Welcomes to a device that was
   * removed before it fetched one are not found this way; they expire as usual.
   */
  private async dropWelcomes(roomId: bigint, members: readonly bigint[]): Promise<number> {
    let dropped = 0;
    for (const senderId of members) {
      for (const w of this.d.storage.welcomesFor(senderId, 0n)) {
        if (w.roomId !== roomId) continue;
        if (await this.d.storage.removeWelcome(senderId, roomId, w.logIndex)) dropped++;
      }
    }
    return dropped;
  }

  /**
   * Finishes the deletions a crash interrupted (tombstoned rooms with live payloads):
   * the hub calls it at start. Resolves with the rooms finished.
   */
  async resumeDeletions(): Promise<bigint[]> {
    const unfinished = await askAllShards<bigint>(this.d.shards, { q: "unfinishedDeletions" });
    for (const roomId of unfinished) {
      await this.delete(roomId, { dropHeaders: false, reason: "resumed at start" }, "hub");
    }
    return unfinished;
  }

  /** Rooms in which the user holds a leaf or a role. */
  async userRooms(
    userId: string,
  ): Promise<{ roomId: bigint; role: string | undefined; leaves: number[] }[]> {
    const rooms = await askAllShards<{
      roomId: bigint;
      role: string | undefined;
      leaves: number[];
    }>(this.d.shards, { q: "userRooms", userId });
    return rooms.sort((a, b) => byBigint(a.roomId, b.roomId));
  }

  /** Rooms in which the device holds a leaf. */
  async deviceRooms(senderId: bigint): Promise<{ roomId: bigint; leaf: number }[]> {
    const rooms = await askAllShards<{ roomId: bigint; leaf: number }>(this.d.shards, {
      q: "deviceRooms",
      senderId,
    });
    return rooms.sort((a, b) => byBigint(a.roomId, b.roomId));
  }

  /**
   * A page (`from`, `limit`) of every audit chain: the hub's, then each shard's own when
   * the shards keep one (docs/moderation.md "Audit chains").
   */
  async auditChains(from: number, limit: number): Promise<AuditChain[]> {
    const all = this.d.storage.readAudit();
    const chains: AuditChain[] = [
      {
        chain: "hub",
        total: all.length,
        verification: this.d.storage.verifyAudit(),
        records: all.slice(from, from + limit),
      },
    ];
    if (!this.d.shardChains) return chains;
    const pages = await Promise.all(
      Array.from({ length: this.d.shards.count }, (_, i) =>
        askShard<AuditPage>(this.d.shards, i, { q: "audit", from, limit }),
      ),
    );
    pages.forEach((p, i) => {
      chains.push({ chain: `shard-${i}`, ...p });
    });
    return chains;
  }

  private owner(roomId: bigint): number {
    return shardOf(roomId, this.d.shards.count);
  }
}
