/**
 * A bounded least-recently-used cache keyed by bytes. Importing a key into the platform
 * (DER parsing and an OpenSSL key object in Node, point decoding elsewhere) costs more
 * than using it, and ts-mls hands us the
 * same raw keys over and over (the same members' HPKE keys in every commit, the same
 * signature keys for every message), so keys are imported once and kept as handles.
 * Bounded so that a long-lived client or a hub seeing many groups cannot grow it forever.
 */
import { bytesKey } from "#platform/bytes";
import { digest } from "#platform/hash";

export interface KeyCacheOptions {
  /**
   * Key the cache by SHA-256 of the bytes instead of the bytes themselves: for private
   * keys, so the secret does not also live on as an immutable JS string (which could
   * never be wiped) in the cache's index.
   */
  secretKeys?: boolean;
}

export class KeyCache<V> {
  readonly #map = new Map<string, V>();
  readonly #capacity: number;
  readonly #secretKeys: boolean;

  constructor(capacity: number, opts: KeyCacheOptions = {}) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`"capacity" expected a positive integer, got ${capacity}`);
    }
    this.#capacity = capacity;
    this.#secretKeys = opts.secretKeys ?? false;
  }

  get size(): number {
    return this.#map.size;
  }

  /** The cached value for `key`, computing and inserting it with `make` on a miss. */
  getOrCreate(key: Uint8Array, make: () => V): V {
    const k = bytesKey(this.#secretKeys ? digest("sha256", key) : key);
    const hit = this.#map.get(k);
    if (hit !== undefined) {
      // Refresh recency: Map iteration order is insertion order.
      this.#map.delete(k);
      this.#map.set(k, hit);
      return hit;
    }
    const v = make();
    this.#map.set(k, v);
    if (this.#map.size > this.#capacity) {
      const oldest = this.#map.keys().next().value as string;
      this.#map.delete(oldest);
    }
    return v;
  }

  clear(): void {
    this.#map.clear();
  }
}
