/**
 * What a simulated world records for its invariants (DESIGN §8), apart from the nodes
 * themselves: the tree hash each member saw per epoch (epoch_tree_hash), who was removed
 * from or added back to a room and when (removed_reads_nothing), and the erasures made
 * durable, with the check that the hub never serves an erased payload again
 * (erased_unrecoverable). Violations go to the world through `violation`.
 */
import type { KalandraClient } from "@kalandra/client";
import { decodePayload, FrameHeader, HEADER_SIZE, Opcode } from "@kalandra/proto";
import type { ErasureRecord } from "./invariants.js";

type ClientEvent = Parameters<Parameters<KalandraClient["on"]>[0]>[0];

export class WorldObservations {
  /** (room, epoch) → tree hash hex, as the first member to enter it saw it. */
  readonly epochHashes = new Map<string, { hash: string; by: string }>();
  /** Erasures made durable during the run. */
  readonly erasures: ErasureRecord[] = [];
  readonly #removals = new Map<string, bigint>();
  /** (room, user) → epoch → removed or added back in it. */
  readonly #membership = new Map<string, Map<bigint, "removed" | "added">>();
  readonly #erased = new Set<string>();

  constructor(private readonly violation: (invariant: string, detail: string) => void) {}

  /** An erasure became durable: from now on the hub must never serve its payload. */
  erased(e: ErasureRecord): void {
    this.erasures.push(e);
    this.#erased.add(`${e.roomId}:${e.logIndex}`);
  }

  /** erased_unrecoverable: once an erasure is durable, the hub never serves its payload. */
  served(frame: Uint8Array): void {
    if (this.#erased.size === 0 || frame.length < HEADER_SIZE) return;
    if (FrameHeader.view(frame).opcode !== Opcode.SYNC_PAGE) return;
    let page: { entries: { header: Uint8Array; payload: Uint8Array | null }[] };
    try {
      page = decodePayload(Opcode.SYNC_PAGE, frame.subarray(HEADER_SIZE));
    } catch {
      return;
    }
    for (const e of page.entries) {
      if (e.payload === null || e.header.length !== HEADER_SIZE) continue;
      const h = FrameHeader.view(e.header);
      const k = `${h.roomId}:${h.logIndex}`;
      if (this.#erased.has(k)) {
        this.violation("erased_unrecoverable", `the hub served erased ${k} in a SYNC_PAGE`);
      }
    }
  }

  /** The epoch at which other members saw `user` removed from the room. */
  removalEpoch(roomId: bigint, user: string): bigint | undefined {
    return this.#removals.get(`${roomId}:${user}`);
  }

  /**
   * Whether `user` was out of the room in `epoch` after a removal: removed at or before it
   * and not added back since (a removed user may be added again, e.g. grow_room).
   */
  removedIn(roomId: bigint, user: string, epoch: bigint): boolean {
    let last: { at: bigint; kind: "removed" | "added" } | undefined;
    for (const [at, kind] of this.#membership.get(`${roomId}:${user}`) ?? []) {
      if (at <= epoch && (last === undefined || at > last.at)) last = { at, kind };
    }
    return last?.kind === "removed";
  }

  /** Every event of every client: determinism reports, membership changes, epoch hashes. */
  clientEvent(node: string, e: ClientEvent): void {
    if (e.type === "error" && e.error.name === "DeterminismViolation") {
      this.violation("determinism", `${node}: ${e.error.message}`);
      return;
    }
    if (e.type === "membership") {
      for (const user of e.removed) {
        const k = `${e.roomId}:${user}`;
        const prev = this.#removals.get(k);
        if (prev === undefined || e.epoch < prev) this.#removals.set(k, e.epoch);
      }
      for (const [users, kind] of [
        [e.removed, "removed"],
        [e.added, "added"],
      ] as const) {
        for (const user of users) {
          const k = `${e.roomId}:${user}`;
          let changes = this.#membership.get(k);
          if (changes === undefined) {
            changes = new Map();
            this.#membership.set(k, changes);
          }
          changes.set(e.epoch, kind);
        }
      }
      return;
    }
    if (e.type !== "epoch") return;
    const key = `${e.roomId}:${e.epoch}`;
    const hash = Buffer.from(e.treeHash).toString("hex");
    const prev = this.epochHashes.get(key);
    if (prev === undefined) this.epochHashes.set(key, { hash, by: node });
    else if (prev.hash !== hash) {
      this.violation(
        "epoch_tree_hash",
        `room ${e.roomId} epoch ${e.epoch}: ${node} has tree hash ${hash.slice(0, 16)}, ${prev.by} has ${prev.hash.slice(0, 16)}`,
      );
    }
  }
}
