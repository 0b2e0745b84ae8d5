/**
 * Small fixed encodings shared by the storage modules: u32 slot numbers (keys of
 * `vault_free` / `vault_dirty`, `meta.vault_hwm`) and the `payload_keys` value
 * `state (1) ‖ vault slot (u32 BE)` that points a frame at its key.
 */
import { StorageError } from "./errors.js";

export const STATE_LIVE = 1;
export const STATE_ERASED = 2;
/** The value of rows whose key is all that matters (index and set tables). */
export const ONE = new Uint8Array([0]);

export function u32(v: number): Uint8Array {
  return new Uint8Array([v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
}

export function readU32(b: Uint8Array): number {
  if (b.length < 4) throw new StorageError("CORRUPT", "u32 field too short");
  return (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
}

export function keyRef(state: number, slot: number): Uint8Array {
  return new Uint8Array([
    state,
    slot >>> 24,
    (slot >>> 16) & 0xff,
    (slot >>> 8) & 0xff,
    slot & 0xff,
  ]);
}

export function readKeyRef(b: Uint8Array, where: string): { state: number; slot: number } {
  if (b.length !== 5 || (b[0] !== STATE_LIVE && b[0] !== STATE_ERASED)) {
    throw new StorageError("CORRUPT", `payload key reference of ${where} is malformed`);
  }
  return { state: b[0], slot: readU32(b.subarray(1)) };
}
