/**
 * `exportNotificationKeys`: what the full client hands to its push process (DESIGN §7).
 * Lives beside the blob codec; imports `EpochSenderKeys` only as a type.
 */
import type { EpochSenderKeys } from "../senderkeys/epochSenderKeys.js";
import { type BlobGroup, encodeBlob } from "./blob.js";

export interface ExportNotificationKeysOptions {
  /** Include the own leaf's chain (a push never needs it). Default false. */
  readonly includeOwn?: boolean;
  /** For keys built without `senders`: the member leaves to derive and export. */
  readonly leaves?: Iterable<number>;
}

/**
 * Writes the current chain key and next generation of every sender of each given epoch
 * (typically the current one and, while late messages may still arrive, the previous).
 * Messages already received are not covered: their keys stay with the full client.
 */
export function exportNotificationKeys(
  keys: readonly EpochSenderKeys[],
  opts: ExportNotificationKeysOptions = {},
): Uint8Array {
  const seen = new Set<string>();
  const groups: BlobGroup[] = [];
  for (const k of keys) {
    const id = `${k.roomId}:${k.epoch}`;
    if (seen.has(id)) throw new RangeError(`room ${k.roomId} epoch ${k.epoch} given twice`);
    seen.add(id);
    const snap = k.snapshot({
      ...(opts.includeOwn !== undefined ? { includeOwn: opts.includeOwn } : {}),
      ...(opts.leaves !== undefined ? { leaves: opts.leaves } : {}),
    });
    groups.push({ roomId: k.roomId, epoch: k.epoch, entries: snap });
  }
  const blob = encodeBlob(groups);
  for (const g of groups) for (const e of g.entries) e.chainKey.fill(0);
  return blob;
}
