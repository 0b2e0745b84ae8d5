/**
 * The room quotas of ROOM_CREATE: hub-wide (`limits.max_rooms`), per creating user
 * (`limits.max_rooms_per_user`, issue 12: one device created 213 rooms/s until the hub was
 * full for everyone) and a per-user rate (`limits.max_room_creations_per_minute`, a fixed
 * one-minute window per user, kept in memory only). Creations in flight count against both, so concurrent ROOM_CREATEs
 * cannot pass either; a creation that fails gives its place back. The counts are restored
 * from storage at open (the rooms, and each room's stored creator), so they hold across
 * restarts. Pure bookkeeping: the hub core asks and reports.
 */
import type { Clock } from "@kalandra/proto";
import { type Refusal, refuse } from "../vocabulary/outcome.js";

const MINUTE_MS = 60_000n;
/** Windows kept before stale ones (older than a minute) are swept. */
const SWEEP_AT = 10_000;

/** The limits read at each request (SIGHUP changes them in place). */
export interface RoomQuotaLimits {
  maxRooms: number;
  maxRoomsPerUser: number;
  maxRoomCreationsPerMinute: number;
}

export class RoomQuota {
  private rooms = 0;
  private creating = 0;
  /** Rooms each user created, those being created included. */
  private readonly byUser = new Map<string, number>();
  /** Each user's creations in the current minute window (attempts that passed the quotas). */
  private readonly windows = new Map<string, { start: bigint; count: number }>();

  constructor(
    private readonly limits: RoomQuotaLimits,
    private readonly clock: Clock,
  ) {}

  /** Counts from storage: the number of rooms, and the creator of each room that has one. */
  restore(rooms: number, creators: Iterable<string>): void {
    this.rooms = rooms;
    for (const user of creators) this.byUser.set(user, this.createdBy(user) + 1);
  }

  /** Rooms on this hub (created ones; not those in flight). */
  get roomCount(): number {
    return this.rooms;
  }

  /** Rooms `user` created, creations in flight included. */
  createdBy(user: string): number {
    return this.byUser.get(user) ?? 0;
  }

  /** Takes a place for one creation by `user`, or says which quota is full. */
  reserve(user: string): Refusal | undefined {
    const { maxRooms, maxRoomsPerUser } = this.limits;
    if (this.rooms + this.creating >= maxRooms) {
      return refuse("TOO_MANY_ROOMS", `this hub holds its maximum of ${maxRooms} rooms`);
    }
    const mine = this.createdBy(user);
    if (mine >= maxRoomsPerUser) {
      return refuse(
        "TOO_MANY_ROOMS",
        `${user} has created the maximum of ${maxRoomsPerUser} rooms`,
      );
    }
    const rate = this.limits.maxRoomCreationsPerMinute;
    const window = this.window(user);
    if (window.count >= rate) {
      return refuse("RATE_LIMITED", `${user} may create ${rate} rooms per minute`);
    }
    window.count++;
    this.creating++;
    this.byUser.set(user, mine + 1);
    return undefined;
  }

  /** `user`'s current one-minute window (a new one once the last is a minute old). */
  private window(user: string): { start: bigint; count: number } {
    const now = this.clock.now();
    const w = this.windows.get(user);
    if (w !== undefined && now - w.start < MINUTE_MS) return w;
    if (this.windows.size >= SWEEP_AT) {
      for (const [u, x] of this.windows) if (now - x.start >= MINUTE_MS) this.windows.delete(u);
    }
    const fresh = { start: now, count: 0 };
    this.windows.set(user, fresh);
    return fresh;
  }

  /** A room was deleted (admin API): it no longer counts, for the hub or for its creator. */
  forget(creator: string | undefined): void {
    this.rooms = Math.max(0, this.rooms - 1);
    if (creator === undefined) return;
    const n = this.createdBy(creator) - 1;
    if (n > 0) this.byUser.set(creator, n);
    else this.byUser.delete(creator);
  }

  /** The reserved creation ended: the room counts when it was created, else the place is freed. */
  settle(user: string, created: boolean): void {
    this.creating--;
    if (created) {
      this.rooms++;
      return;
    }
    const n = this.createdBy(user) - 1;
    if (n > 0) this.byUser.set(user, n);
    else this.byUser.delete(user);
  }
}
