/**
 * A bounded least-recently-used cache keyed by bytes. Importing a key into node:crypto
 * (DER parsing, OpenSSL key object) costs more than using it, and ts-mls hands us the
 * same raw keys over and over (the same members' HPKE keys in every commit, the same
 * signature keys for every message), so keys are imported once and kept as KeyObjects.
 * Bounded so that a long-lived client or a hub seeing many groups cannot grow it forever.
 */
import { bytesKey } from "./bytes.js";

export class KeyCache<V> {
  readonly #map = new Map<string, V>();
  readonly #capacity: number;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`"capacity" expected a positive integer, got ${capacity}`);
    }
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#map.size;
  }

  /** The cached value for `key`, computing and inserting it with `make` on a miss. */
  getOrCreate(key: Uint8Array, make: () => V): V {
    const k = bytesKey(key);
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
