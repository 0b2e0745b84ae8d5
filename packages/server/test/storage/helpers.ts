/** Shared test fixtures for the storage suites: temp dirs, seeded randomness, frames. */
import { createHash } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { MAGIC, Offset, U64_MAX } from "@kalandra/proto";
import { seededRng, tempDir } from "@kalandra/test-support";
import type { AppendEntry } from "../../src/storage/types.js";

export { seededRng, tempDir };

/** A 128-byte header with recognisable contents (room and index in the log_index field). */
export function header(roomId: bigint, logIndex: bigint, fill = 0x11): Uint8Array {
  const h = new Uint8Array(128).fill(fill);
  const v = new DataView(h.buffer);
  v.setUint32(Offset.MAGIC, MAGIC);
  v.setBigUint64(Offset.ROOM_ID, roomId >> 64n);
  v.setBigUint64(Offset.ROOM_ID + 8, roomId & U64_MAX);
  v.setBigUint64(Offset.LOG_INDEX, logIndex);
  // Distinctive signature bytes so a forensic scan can find the header in the files.
  h.set(createHash("sha256").update(`header/${roomId}/${logIndex}`).digest(), 64);
  return h;
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

export function entry(
  roomId: bigint,
  logIndex: bigint,
  payload: Uint8Array | string,
  extra: Partial<AppendEntry> = {},
): AppendEntry {
  return {
    roomId,
    logIndex,
    header: header(roomId, logIndex),
    payload: typeof payload === "string" ? utf8(payload) : payload,
    senderId: 1000n + roomId,
    requestId: Number(logIndex % 0xffffffffn),
    response: utf8(`ack ${roomId}/${logIndex}`),
    ...extra,
  };
}

/** Every file below `dir`, recursively. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}
