/**
 * What the intents and the push handler need of the client (and nothing else): the device,
 * injected time, timers and randomness, the rooms, the hub, the room sync, the serial queue and
 * persistence. `KalandraClient` builds one and keeps it private.
 */
import type { Clock, Rng, Timers } from "@kalandra/proto";
import type { ApplyContext } from "./apply.js";
import type { Device } from "./device.js";
import type { HubRequests } from "./hubLink.js";
import type { Room } from "./room.js";
import type { RoomSync } from "./sync.js";

export interface ClientContext {
  /** Cipher suite, hub key, own sender_id and the event emitter. */
  readonly apply: ApplyContext;
  readonly device: Device;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly rng: Rng;
  readonly rooms: Map<bigint, Room>;
  readonly hub: HubRequests;
  readonly sync: Pick<RoomSync, "acceptOwn" | "waitApplied" | "syncRoom">;
  /** Runs `fn` on the client's serial queue (every change to client state goes through it). */
  run<T>(fn: () => Promise<T>): Promise<T>;
  persist(room: Room, mls: boolean): Promise<void>;
}
