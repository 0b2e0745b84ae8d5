/**
 * Opening a data directory: brings the key vault in line with LMDB after any stop
 * (docs/storage.md "Crash atomicity").
 * - Slots at or past `vault_hwm` belong to appends that never committed: zeroed, and the
 *   file is cut to `vault_hwm` slots.
 * - Slots in `vault_dirty` were erased in LMDB but their wipe may not be durable: zeroed
 *   again and moved to `vault_free`.
 * - After an unclean stop (`meta.clean` not set) a free slot may hold the key of an append
 *   that died between its vault sync and its commit: every non-empty free slot is zeroed.
 * Then `clean` is cleared durably, so a crash from here on is seen as unclean.
 */
import { StorageError } from "../errors.js";
import { ONE, readU32, u32 } from "../slotRef.js";
import { type Env, META } from "./layout.js";
import { type KeyVault, SlotAllocator } from "./vault.js";

const NOT_CLEAN = new Uint8Array([0]);
export const CLEAN = new Uint8Array([1]);

export async function recoverVault(
  env: Env,
  vault: KeyVault,
  noSync: boolean,
): Promise<SlotAllocator> {
  const t = env.tables;
  const hwmBytes = t.meta.get(META.vaultHwm);
  const hwm = hwmBytes === undefined ? 0 : readU32(hwmBytes);
  const clean = t.meta.get(META.clean)?.[0] === 1;
  if (vault.fileSlots() < hwm) {
    // Keys the log refers to are missing (a replaced or cut vault): refuse rather than
    // serve frames that can never be opened, or extend the file with zeros.
    throw new StorageError(
      "CORRUPT",
      `key vault holds ${vault.fileSlots()} slots but the log uses ${hwm}: keys are missing`,
    );
  }
  vault.truncateTo(hwm);
  const dirty = [...t.vault_dirty.getKeys()].map((k) => readU32(k));
  const free = [...t.vault_free.getKeys()].map((k) => readU32(k));
  let wiped = 0;
  for (const s of dirty) vault.wipe(s);
  if (!clean) {
    for (const s of free) {
      if (!vault.isEmpty(s)) {
        vault.wipe(s);
        wiped++;
      }
    }
  }
  if (dirty.length + wiped > 0) vault.syncNow();
  await env.root.transaction(() => {
    for (const s of dirty) {
      t.vault_dirty.removeSync(u32(s));
      t.vault_free.putSync(u32(s), ONE);
    }
    t.meta.putSync(META.clean, NOT_CLEAN);
  });
  if (!noSync) await env.root.flushed;
  return new SlotAllocator([...free, ...dirty], hwm);
}
