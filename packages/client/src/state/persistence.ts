/**
 * What the client keeps in its `ClientStore` (docs/client.md "Persistence"): the device,
 * unused key packages, per room its MLS state, applied log position and in-flight frames,
 * and the reserved block of request ids.
 */
import type { Rng } from "@kalandra/proto";
import { decodeState, encodeState } from "../mls/group.js";
import type { ClientStore } from "../store.js";
import {
  type Device,
  decodeDeviceRecord,
  decodeOwnKeyPackage,
  encodeDeviceRecord,
  generateDevice,
  type OwnKeyPackage,
} from "./device.js";
import {
  decodeInflight,
  decodeRoomMeta,
  encodeInflight,
  encodeRoomMeta,
  Room,
  roomKey,
  signatureKey,
} from "./room.js";
import { parseFrame } from "./wire.js";

const DEVICE_KEY = "device";
const REQUEST_ID_KEY = "meta/request_id";
const KP_PREFIX = "kp/";
/** Request ids are reserved in blocks so a restart never reuses one (the hub dedupes on them). */
const REQUEST_ID_BLOCK = 1024;

export async function loadOrCreateDevice(
  store: ClientStore,
  userId: string,
  rng: Rng,
): Promise<Device> {
  const rec = await store.get(DEVICE_KEY);
  if (rec !== undefined) return decodeDeviceRecord(rec);
  const device = generateDevice(userId, rng);
  await store.put(DEVICE_KEY, encodeDeviceRecord(userId, device));
  return device;
}

export async function loadKeyPackages(
  store: ClientStore,
  device: Device,
): Promise<Map<string, OwnKeyPackage>> {
  const out = new Map<string, OwnKeyPackage>();
  for (const key of await store.keys(KP_PREFIX)) {
    const v = await store.get(key);
    const ref = key.slice(KP_PREFIX.length);
    if (v !== undefined) out.set(ref, decodeOwnKeyPackage(v, ref, device));
  }
  return out;
}

export function keyPackageKey(ref: string): string {
  return `${KP_PREFIX}${ref}`;
}

export async function loadRooms(store: ClientStore): Promise<Map<bigint, Room>> {
  const out = new Map<bigint, Room>();
  for (const key of await store.keys("room/")) {
    if (!key.endsWith("/meta")) continue;
    const roomId = BigInt(`0x${key.slice(5, 37)}`);
    const room = new Room(roomId);
    const meta = await store.get(key);
    if (meta !== undefined) decodeRoomMeta(room, meta);
    const mls = await store.get(roomKey(roomId, "mls"));
    if (mls !== undefined) room.state = decodeState(mls);
    const inflight = await store.get(roomKey(roomId, "inflight"));
    if (inflight !== undefined) {
      for (const op of decodeInflight(inflight))
        room.inflight.set(signatureKey(parseFrame(op.frame)), op);
    }
    out.set(roomId, room);
  }
  return out;
}

export async function persistRoom(store: ClientStore, room: Room, mls: boolean): Promise<void> {
  if (mls && room.state !== undefined)
    await store.put(roomKey(room.roomId, "mls"), encodeState(room.state));
  await store.put(roomKey(room.roomId, "inflight"), encodeInflight(room));
  await store.put(roomKey(room.roomId, "meta"), encodeRoomMeta(room));
}

/** Hands out request ids, persisting the end of each reserved block before using it. */
export class RequestIds {
  #next: number;
  #reserved: number;

  private constructor(
    private readonly store: ClientStore,
    next: number,
  ) {
    this.#next = next;
    this.#reserved = next;
  }

  static async load(store: ClientStore): Promise<RequestIds> {
    const b = await store.get(REQUEST_ID_KEY);
    return new RequestIds(
      store,
      b === undefined ? 1 : new DataView(b.buffer, b.byteOffset, 4).getUint32(0),
    );
  }

  next(): number {
    const id = this.#next++;
    if (this.#next >= this.#reserved) {
      this.#reserved = this.#next + REQUEST_ID_BLOCK;
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, this.#reserved >>> 0);
      void this.store.put(REQUEST_ID_KEY, b);
    }
    return id >>> 0;
  }
}
