/**
 * A map keyed by byte strings without turning them into strings: entries are bucketed by
 * their first four bytes (public keys are uniformly random, so a bucket rarely holds more
 * than one) and compared in full within a bucket. The hub checks key uniqueness against a
 * 10,000-member tree (30,000 keys) on every commit (RFC 9420 §7.3); hex keys made that the
 * largest part of validating a commit at that size (docs/performance.md "Scale: large rooms").
 *
 * Members choose their keys, and an HPKE public key need not be a usable one, so an attacker
 * can make thousands share their first bytes. A bucket that grows past SPLIT_AT entries
 * therefore becomes a map over the next four bytes, and so on: a lookup costs at most one
 * step per four bytes of key, whatever the keys are.
 */
import { bytesEqual } from "./crypto.js";

const SPLIT_AT = 8;
const WORD = 2 ** 32;

interface Entry<V> {
  key: Uint8Array;
  value: V;
}

type Bucket<V> = Entry<V>[] | BytesMap<V>;

/**
 * The bucket of `key` among keys that share their first `offset` bytes: the next four
 * bytes, or, for a key with fewer than four left, those bytes and how many they are, which
 * is the whole rest of the key, so such a bucket never holds two keys.
 */
function bucketOf(key: Uint8Array, offset: number): number {
  const rest = key.length - offset;
  if (rest >= 4) {
    return (
      (((key[offset] as number) << 24) |
        ((key[offset + 1] as number) << 16) |
        ((key[offset + 2] as number) << 8) |
        (key[offset + 3] as number)) >>>
      0
    );
  }
  let word = 0;
  for (let i = 0; i < rest; i++) word = word * 256 + (key[offset + i] as number);
  return WORD * (1 + rest) + word;
}

export class BytesMap<V> {
  private readonly buckets = new Map<number, Bucket<V>>();

  /** `offset`: how many leading bytes every key of this map shares (0 at the top). */
  constructor(private readonly offset = 0) {}

  get(key: Uint8Array): V | undefined {
    const bucket = this.buckets.get(bucketOf(key, this.offset));
    if (bucket === undefined) return undefined;
    if (bucket instanceof BytesMap) return bucket.get(key);
    for (const e of bucket) if (bytesEqual(e.key, key)) return e.value;
    return undefined;
  }

  has(key: Uint8Array): boolean {
    return this.get(key) !== undefined;
  }

  delete(key: Uint8Array): boolean {
    const b = bucketOf(key, this.offset);
    const bucket = this.buckets.get(b);
    if (bucket === undefined) return false;
    if (bucket instanceof BytesMap) return bucket.delete(key);
    const at = bucket.findIndex((x) => bytesEqual(x.key, key));
    if (at < 0) return false;
    if (bucket.length === 1) this.buckets.delete(b);
    else bucket.splice(at, 1);
    return true;
  }

  /** Sets the value for `key` (keeps a reference to `key`: callers pass immutable bytes). */
  set(key: Uint8Array, value: V): void {
    const b = bucketOf(key, this.offset);
    const bucket = this.buckets.get(b);
    if (bucket === undefined) {
      this.buckets.set(b, [{ key, value }]);
      return;
    }
    if (bucket instanceof BytesMap) {
      bucket.set(key, value);
      return;
    }
    const e = bucket.find((x) => bytesEqual(x.key, key));
    if (e !== undefined) {
      e.value = value;
      return;
    }
    bucket.push({ key, value });
    if (bucket.length <= SPLIT_AT) return;
    // Every key here has four more bytes in common (a shorter key is alone in its bucket).
    const child = new BytesMap<V>(this.offset + 4);
    for (const x of bucket) child.set(x.key, x.value);
    this.buckets.set(b, child);
  }

  /** The longest list of keys any lookup compares one by one (for tests). */
  longestScan(): number {
    let longest = 0;
    for (const bucket of this.buckets.values()) {
      const n = bucket instanceof BytesMap ? bucket.longestScan() : bucket.length;
      if (n > longest) longest = n;
    }
    return longest;
  }
}
