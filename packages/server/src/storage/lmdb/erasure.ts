/**
 * Cryptographic erasure of one frame (DESIGN §5, docs/storage.md "Erasure"). Three steps,
 * each durable before the next; `eraseFrame` resolves once step 2 is durable:
 * 1. one LMDB transaction appends the `secure_delete` audit record, marks the key reference
 *    erased, drops the sealed payload and lists the slot in `vault_dirty`;
 * 2. the key's vault slot is overwritten with zeros in place and fdatasync'ed: from here on
 *    the key is in no file (LMDB never held it, so its copy-on-write free pages cannot);
 * 3. a second transaction moves the slot from `vault_dirty` to `vault_free`, and only then
 *    may a new key reuse it. This step runs in the background: until it commits the slot is
 *    simply not reused; if it never becomes durable the slot is still in `vault_dirty` and
 *    opening finishes the job. LMDB commits in order, so a later append that reuses the
 *    slot implies this commit.
 * A crash after step 1 leaves the slot in `vault_dirty`, and opening wipes it again.
 */
import type { Clock } from "@kalandra/proto";
import { keyRef, ONE, readKeyRef, STATE_ERASED, STATE_LIVE, u32 } from "../slotRef.js";
import type { EraseContext } from "../types.js";
import type { AuditLog } from "./auditLog.js";
import { dropBlobRefsInTxn } from "./blobs.js";
import type { Env } from "./layout.js";
import type { KeyVault, SlotAllocator } from "./vault.js";

export type { EraseContext } from "../types.js";

export interface ErasureDeps {
  env: Env;
  vault: KeyVault;
  slots: SlotAllocator;
  audit: AuditLog;
  clock: Clock;
  /** Runs `fn` in a write transaction and resolves once it is durable. */
  durable: <T>(fn: () => T) => Promise<T>;
  /** Work that `close` must wait for but the caller need not. */
  background: (p: Promise<unknown>) => void;
  /** Erases a blob (`room ‖ blob_id`) whose last reference was the erased frame. */
  eraseBlob: (blobKey: Uint8Array, context: EraseContext) => Promise<boolean>;
}

/** false when there is nothing to erase (no such frame, or erased already). */
export async function eraseFrame(
  d: ErasureDeps,
  target: EraseContext & { key: Uint8Array; roomId: bigint; logIndex: bigint },
): Promise<boolean> {
  const { key, roomId, logIndex } = target;
  const where = `room ${roomId} index ${logIndex}`;
  const t = d.env.tables;
  let slot: number | undefined;
  let orphans: Uint8Array[] = [];
  try {
    slot = await d.durable(() => {
      const ref = t.payload_keys.get(key);
      if (ref === undefined) return undefined;
      const { state, slot } = readKeyRef(ref, where);
      if (state !== STATE_LIVE) return undefined;
      const detail: Record<string, unknown> = { log_index: logIndex };
      if (target.reason !== undefined) detail.reason = target.reason;
      // The audit record first: it is the only part that encodes (and could fail), and
      // lmdb-js keeps the writes a failing callback already made.
      d.audit.appendInTxn({
        kind: "secure_delete",
        at: d.clock.now(),
        roomId,
        actor: target.actor ?? "hub",
        detail,
      });
      t.payload_keys.putSync(key, keyRef(STATE_ERASED, 0));
      t.payloads.removeSync(key);
      t.vault_dirty.putSync(u32(slot), ONE);
      // Its blob references go with it (docs/storage.md "Blobs").
      orphans = dropBlobRefsInTxn(t, key);
      return slot;
    });
  } catch (err) {
    d.audit.reload();
    throw err;
  }
  if (slot === undefined) return false;
  const erased = slot;
  d.vault.wipe(erased);
  await d.vault.sync();
  d.background(
    d.env.root
      .transaction(() => {
        t.vault_dirty.removeSync(u32(erased));
        t.vault_free.putSync(u32(erased), ONE);
      })
      .then(
        () => d.slots.release(erased),
        () => undefined,
      ),
  );
  // A blob no live frame references any more is erased before this erasure resolves; if
  // the hub stops first, the blob service's sweep erases it (referenced, no reference left).
  const context: EraseContext = { actor: target.actor ?? "hub" };
  if (target.reason !== undefined) context.reason = target.reason;
  for (const blob of orphans) await d.eraseBlob(blob, context);
  return true;
}
