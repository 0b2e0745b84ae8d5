/**
 * `ClientStore` on IndexedDB: a browser device keeps its key, key packages and rooms across
 * page loads (docs/client.md "Persistence"). One database per device, one object store of
 * string keys to byte values. It imports nothing: the `IDBFactory` is the page's
 * `indexedDB` unless one is passed in (tests use fake-indexeddb).
 *
 * Writes are `strict` transactions by default: the client writes after every applied frame
 * and resumes from what it finds, so a write the browser reported done must be on disk.
 * Values are copied into their own ArrayBuffer before they are stored, because IndexedDB
 * clones a view together with its whole buffer, which could hold other secrets.
 */
import type { ClientStore } from "./store.js";

const OBJECT_STORE = "kv";
const VERSION = 1;

// The part of the IndexedDB API used here, declared so that this module (and its .d.ts)
// compile without the DOM library: Node consumers of the package need not have it.
interface IdbRequest<T> {
  readonly result: T;
  readonly error: { message: string } | null;
  onsuccess: (() => void) | null;
  onerror: (() => void) | null;
}
interface IdbOpenRequest extends IdbRequest<IdbDatabase> {
  onupgradeneeded: (() => void) | null;
  onblocked: (() => void) | null;
}
interface IdbCursor {
  readonly key: unknown;
  continue(): void;
}
interface IdbObjectStore {
  get(key: string): IdbRequest<unknown>;
  put(value: unknown, key: string): unknown;
  delete(key: string): unknown;
  openKeyCursor(range: unknown): IdbRequest<IdbCursor | null>;
}
interface IdbTransaction {
  readonly error: { message: string } | null;
  objectStore(name: string): IdbObjectStore;
  oncomplete: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
}
interface IdbDatabase {
  readonly objectStoreNames: { contains(name: string): boolean };
  createObjectStore(name: string): unknown;
  transaction(
    name: string,
    mode: "readonly" | "readwrite",
    options?: { durability: Durability },
  ): IdbTransaction;
  close(): void;
  onversionchange: (() => void) | null;
}
/** `indexedDB`'s type (the page's, or fake-indexeddb's in tests). */
export interface IdbFactory {
  open(name: string, version: number): IdbOpenRequest;
  deleteDatabase(name: string): IdbRequest<unknown>;
}
/** `IDBKeyRange`'s static side, as far as it is used here. */
export interface IdbKeyRangeClass {
  lowerBound(lower: string): unknown;
}
type Durability = "strict" | "relaxed" | "default";

export interface IndexedDbStoreOptions {
  /** The database's name; one per device (default "kalandra"). */
  name?: string;
  /** Default: `globalThis.indexedDB`. */
  factory?: IdbFactory;
  /** Default: `globalThis.IDBKeyRange` (pass the one that belongs to `factory`). */
  keyRange?: IdbKeyRangeClass;
  /** Transaction durability of writes (default "strict"). */
  durability?: Durability;
}

/** A failure of the browser's storage (quota, a blocked upgrade, no IndexedDB at all). */
export class IndexedDbStoreError extends Error {
  override readonly name = "IndexedDbStoreError";
}

function done<T>(req: IdbRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new IndexedDbStoreError(req.error?.message ?? "request failed"));
  });
}

function committed(tx: IdbTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(new IndexedDbStoreError(tx.error?.message ?? "transaction failed"));
    tx.onabort = () => reject(new IndexedDbStoreError(tx.error?.message ?? "transaction aborted"));
  });
}

function factoryOf(o: IndexedDbStoreOptions): IdbFactory {
  const f = o.factory ?? (globalThis as { indexedDB?: IdbFactory }).indexedDB;
  if (f === undefined) throw new IndexedDbStoreError("no IndexedDB in this environment");
  return f;
}

function keyRangeOf(o: IndexedDbStoreOptions): IdbKeyRangeClass {
  const k = o.keyRange ?? (globalThis as { IDBKeyRange?: IdbKeyRangeClass }).IDBKeyRange;
  if (k === undefined) throw new IndexedDbStoreError("no IDBKeyRange in this environment");
  return k;
}

export class IndexedDbStore implements ClientStore {
  readonly #db: IdbDatabase;
  readonly #keyRange: IdbKeyRangeClass;
  readonly #durability: Durability;

  private constructor(db: IdbDatabase, keyRange: IdbKeyRangeClass, durability: Durability) {
    this.#db = db;
    this.#keyRange = keyRange;
    this.#durability = durability;
  }

  /**
   * Opens (or creates) the device's database.
   *
   * @example
   * const store = await IndexedDbStore.open({ name: "kalandra-alice" });
   * const client = await KalandraClient.open({ store, ... });
   */
  static async open(o: IndexedDbStoreOptions = {}): Promise<IndexedDbStore> {
    const keyRange = keyRangeOf(o);
    const req = factoryOf(o).open(o.name ?? "kalandra", VERSION);
    req.onupgradeneeded = () => {
      if (!req.result.objectStoreNames.contains(OBJECT_STORE)) {
        req.result.createObjectStore(OBJECT_STORE);
      }
    };
    req.onblocked = () => undefined; // waits for other tabs to close their older version
    const db = await done(req);
    // Another tab deleting or upgrading the database: let it, this handle is done.
    db.onversionchange = () => db.close();
    return new IndexedDbStore(db, keyRange, o.durability ?? "strict");
  }

  /** Deletes a device's whole database (what `erase()` leaves is an empty one). */
  static async destroy(o: IndexedDbStoreOptions = {}): Promise<void> {
    await done(factoryOf(o).deleteDatabase(o.name ?? "kalandra"));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const tx = this.#db.transaction(OBJECT_STORE, "readonly");
    const v: unknown = await done(tx.objectStore(OBJECT_STORE).get(key));
    if (v === undefined) return undefined;
    if (!(v instanceof Uint8Array)) {
      throw new IndexedDbStoreError(`value of ${JSON.stringify(key)} is not bytes`);
    }
    return v;
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    const tx = this.#db.transaction(OBJECT_STORE, "readwrite", { durability: this.#durability });
    tx.objectStore(OBJECT_STORE).put(value.slice(), key);
    await committed(tx);
  }

  /**
   * Overwrites the value with zeros, then deletes it, in one transaction: the browser's
   * storage engine may still keep old pages for a while, which no page can reach.
   */
  async delete(key: string): Promise<void> {
    const tx = this.#db.transaction(OBJECT_STORE, "readwrite", { durability: this.#durability });
    const os = tx.objectStore(OBJECT_STORE);
    const old: unknown = await done(os.get(key));
    if (old instanceof Uint8Array) os.put(new Uint8Array(old.length), key);
    os.delete(key);
    await committed(tx);
  }

  /** Every key starting with `prefix`, in code-unit order (as `MemoryStore` sorts them). */
  async keys(prefix: string): Promise<string[]> {
    const tx = this.#db.transaction(OBJECT_STORE, "readonly");
    const req = tx.objectStore(OBJECT_STORE).openKeyCursor(this.#keyRange.lowerBound(prefix));
    const out: string[] = [];
    await new Promise<void>((resolve, reject) => {
      req.onerror = () => reject(new IndexedDbStoreError(req.error?.message ?? "cursor failed"));
      req.onsuccess = () => {
        const cursor = req.result;
        const key = cursor?.key;
        if (cursor === null || typeof key !== "string" || !key.startsWith(prefix)) {
          resolve();
          return;
        }
        out.push(key);
        cursor.continue();
      };
    });
    return out;
  }

  /** Closes the database handle; the data stays. */
  close(): void {
    this.#db.close();
  }
}
