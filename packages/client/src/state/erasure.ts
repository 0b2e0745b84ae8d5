/** Zeroing secrets held in memory (DESIGN §7, cryptographic erasure on the device). */

import type { ClientStore } from "../store.js";
import type { Device } from "./device.js";
import type { Room } from "./room.js";

/** Zeroes every Uint8Array reachable from `v` (objects, arrays, maps), each once. */
export function zeroDeep(v: unknown, seen = new Set<unknown>()): void {
  if (v === null || typeof v !== "object" || seen.has(v)) return;
  seen.add(v);
  if (v instanceof Uint8Array) {
    v.fill(0);
    return;
  }
  const children = v instanceof Map ? v.values() : Object.values(v as Record<string, unknown>);
  for (const c of children) zeroDeep(c, seen);
}

/**
 * Deletes every persisted byte, then zeroes what memory still holds of the rooms: the key
 * schedule, secret tree, path secrets and in-flight states (every byte array reachable from
 * the rooms' MLS states, public parts too, they are gone anyway) and the device seed.
 */
export async function eraseDevice(
  store: ClientStore,
  rooms: Map<bigint, Room>,
  device: Device,
): Promise<void> {
  for (const key of await store.keys("")) await store.delete(key);
  for (const r of rooms.values()) {
    r.dropKeys();
    zeroDeep(r.state);
    for (const op of r.inflight.values()) zeroDeep(op);
  }
  rooms.clear();
  device.destroy();
}
