/**
 * The room quotas of ROOM_CREATE: hub-wide (`limits.max_rooms`) and per creating user
 * (`limits.max_rooms_per_user`, issue 12: one device created 213 rooms/s until the hub was
 * full for everyone). Creations in flight count against both, so concurrent ROOM_CREATEs
 * cannot pass either; a creation that fails gives its place back. The counts are restored
 * from storage at open (the rooms, and each room's stored creator), so they hold across
 * restarts. Pure bookkeeping: the hub core asks and reports.
 */
import { type Refusal, refuse } from "../vocabulary/outcome.js";

/** The limits read at each request (SIGHUP changes them in place). */
export interface RoomQuotaLimits {
  maxRooms: number;
  maxRoomsPerUser: number;
}

export class RoomQuota {
  private rooms = 0;
  private creating = 0;
  /** Rooms each user created, those being created included. */
  private readonly byUser = new Map<string, number>();

  constructor(private readonly limits: RoomQuotaLimits) {}

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
    this.creating++;
    this.byUser.set(user, mine + 1);
    return undefined;
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
