/**
 * The client's persistence interface: bytes by string key. Browsers back it with
 * IndexedDB, Node with a file or LMDB; tests and the simulation use `MemoryStore`.
 * The client writes after every applied frame, so a restart resumes from the last
 * applied `log_index` (docs/client.md "Persistence").
 *
 * Ownership: `put` copies nothing itself; the client never reuses a buffer it handed in.
 * `get` returns bytes the caller may keep.
 */
export interface ClientStore {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array): Promise<void>;
  /** Removes the key; an implementation must overwrite the value's bytes if it can. */
  delete(key: string): Promise<void>;
  /** Every key starting with `prefix`. */
  keys(prefix: string): Promise<string[]>;
}

/** In-memory store; `delete` zeroes the stored bytes before dropping them. */
export class MemoryStore implements ClientStore {
  readonly #data = new Map<string, Uint8Array>();

  async get(key: string): Promise<Uint8Array | undefined> {
    const v = this.#data.get(key);
    return v === undefined ? undefined : v.slice();
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    const old = this.#data.get(key);
    if (old !== undefined) old.fill(0);
    this.#data.set(key, value.slice());
  }

  async delete(key: string): Promise<void> {
    const old = this.#data.get(key);
    if (old !== undefined) old.fill(0);
    this.#data.delete(key);
  }

  async keys(prefix: string): Promise<string[]> {
    return [...this.#data.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  /** Test hook: the raw stored values, to check that erased secrets are gone. */
  rawValues(): Uint8Array[] {
    return [...this.#data.values()];
  }
}
