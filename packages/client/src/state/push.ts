/**
 * Frames the hub pushes without being asked (DESIGN §4, §7): a room's sequenced frames go
 * to its sync, which applies them in log order; WELCOME joins a room; COMMIT_REQUEST asks
 * this member to commit pending proposals; KP_STATUS reports a low key package stock.
 * Also the way back when a room leaves the hub's order: one external rejoin.
 */
import { isSequenced, Opcode } from "@kalandra/proto";
import { joinFromWelcome } from "../mls/group.js";
import { enterEpoch } from "./apply.js";
import type { ClientContext } from "./context.js";
import { asError, ClientError } from "./errors.js";
import type { Intents } from "./intents.js";
import { acknowledgeWelcome } from "./invitations.js";
import type { KeyPackageStock } from "./keyPackageStock.js";
import { Room } from "./room.js";
import type { RoomSync } from "./sync.js";
import {
  fieldBytes,
  fieldNumber,
  fieldU64,
  payloadOf,
  type ReceivedFrame,
  verifyFrame,
} from "./wire.js";

export class PushHandler {
  readonly #c: ClientContext;
  readonly #sync: RoomSync;
  readonly #intents: Intents;
  readonly #stock: KeyPackageStock;
  readonly #rejoining = new Set<bigint>();

  constructor(c: ClientContext, sync: RoomSync, intents: Intents, stock: KeyPackageStock) {
    this.#c = c;
    this.#sync = sync;
    this.#intents = intents;
    this.#stock = stock;
  }

  /** One pushed frame. On the client's queue. */
  async handle(f: ReceivedFrame): Promise<void> {
    if (isSequenced(f.header.opcode)) {
      const room = this.#c.rooms.get(f.header.roomId);
      if (room !== undefined) await this.#sync.ingest(room, f);
      return;
    }
    if (f.header.senderId !== 0n || !verifyFrame(f, this.#c.apply.hubPublicKey)) return;
    const p = payloadOf(f);
    switch (f.header.opcode) {
      case Opcode.WELCOME:
        await this.#onWelcome(f, fieldBytes(p, "welcome"), fieldU64(p, "epoch"));
        return;
      case Opcode.COMMIT_REQUEST:
        void this.#intents
          .commitPending(f.header.roomId, fieldU64(p, "epoch"), fieldNumber(p, "pending"))
          .catch(() => undefined);
        return;
      case Opcode.KP_STATUS:
        this.#stock.replenish(fieldNumber(p, "remaining"));
        return;
      default:
        return;
    }
  }

  /**
   * Joins from a Welcome, then acknowledges it so the hub's inbox stops delivering it
   * (issue 12). The hub delivers waiting Welcomes again on every connection, so a repeat is
   * normal: it is acknowledged and nothing else happens.
   */
  async #onWelcome(f: ReceivedFrame, welcome: Uint8Array, epoch: bigint): Promise<void> {
    const done = () =>
      void acknowledgeWelcome(this.#c.hub, f.header.roomId, f.header.logIndex).catch(
        () => undefined, // unacknowledged, it comes again on the next connection
      );
    const { rooms, apply } = this.#c;
    const existing = rooms.get(f.header.roomId);
    // A repeat, or a late Welcome for an epoch this device already went past (it joined
    // another way, or was added and removed since): nothing to do.
    if (existing?.state !== undefined && (!existing.removed || epoch <= existing.epoch)) {
      return done();
    }
    let joined: Awaited<ReturnType<typeof joinFromWelcome>>;
    try {
      joined = await joinFromWelcome(welcome, this.#stock.own, apply.cs);
    } catch (e) {
      // Not for a key package this device holds, or not a valid Welcome: it never will be.
      apply.events.emit({ type: "error", error: asError(e) });
      return done();
    }
    await this.#stock.forget(joined.usedRef);
    const room = new Room(f.header.roomId);
    // The WELCOME header carries the log_index of the commit that added us: apply from
    // the frame after it (frames of earlier epochs are skipped anyway).
    room.nextIndex = f.header.logIndex + 1n;
    rooms.set(f.header.roomId, room);
    await enterEpoch(apply, room, undefined, joined.state);
    apply.events.emit({ type: "joined", roomId: f.header.roomId, epoch: room.epoch });
    await this.#c.persist(room, true);
    done();
    void this.#c.sync.syncRoom(room).catch(() => undefined);
  }

  /**
   * The room's state can no longer follow the log: report it and rejoin once by external
   * commit with resync (the hub's GroupInfo is the current truth, RFC 9420 §12.4.3.2).
   */
  diverged(room: Room): void {
    const events = this.#c.apply.events;
    events.emit({
      type: "error",
      error: new ClientError("diverged", `room ${room.roomId} left the hub's order; rejoining`),
    });
    if (this.#rejoining.has(room.roomId)) return;
    this.#rejoining.add(room.roomId);
    void this.#intents
      .joinExternal(room.roomId)
      .catch((error: unknown) => events.emit({ type: "error", error: asError(error) }));
  }
}
