/**
 * A map keyed by byte strings without turning them into strings: entries are bucketed by
 * their first four bytes (public keys are uniformly random, so a bucket rarely holds more
 * than one) and compared in full within a bucket. The hub checks key uniqueness against a
 * 10,000-member tree (30,000 keys) on every commit (RFC 9420 §7.3); hex keys made that the
 * largest part of validating a commit at that size (docs/performance.md "Scale: large rooms").
 */
import { bytesEqual } from "./crypto.js";

function bucketOf(key: Uint8Array): number {
  // Keys shorter than four bytes share one bucket per length (negative, apart from the rest).
  if (key.length < 4) return -1 - key.length;
  return (
    (((key[0] as number) << 24) |
      ((key[1] as number) << 16) |
      ((key[2] as number) << 8) |
      (key[3] as number)) >>>
    0
  );
}

export class BytesMap<V> {
  private readonly buckets = new Map<number, { key: Uint8Array; value: V }[]>();

  get(key: Uint8Array): V | undefined {
    const bucket = this.buckets.get(bucketOf(key));
    if (bucket === undefined) return undefined;
    for (const e of bucket) if (bytesEqual(e.key, key)) return e.value;
    return undefined;
  }

  has(key: Uint8Array): boolean {
    return this.get(key) !== undefined;
  }

  delete(key: Uint8Array): boolean {
    const b = bucketOf(key);
    const bucket = this.buckets.get(b);
    const at = bucket?.findIndex((x) => bytesEqual(x.key, key)) ?? -1;
    if (bucket === undefined || at < 0) return false;
    if (bucket.length === 1) this.buckets.delete(b);
    else bucket.splice(at, 1);
    return true;
  }

  /** Sets the value for `key` (keeps a reference to `key`: callers pass immutable bytes). */
  set(key: Uint8Array, value: V): void {
    const b = bucketOf(key);
    const bucket = this.buckets.get(b);
    if (bucket === undefined) {
      this.buckets.set(b, [{ key, value }]);
      return;
    }
    const e = bucket.find((x) => bytesEqual(x.key, key));
    if (e === undefined) bucket.push({ key, value });
    else e.value = value;
  }
}
