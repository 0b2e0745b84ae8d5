/**
 * What a room's authority engine keeps on disk: its TermRecord and its copy of the room's
 * log. Writes apply to what the engine reads at once and become durable later; `sync()`
 * resolves once everything written so far is durable. The engine never sends an answer
 * that depends on a write before that write is durable (a vote, an append's ack).
 */
import type { LogEntry } from "./messages.js";
import type { TermRecord } from "./termState.js";

export interface AuthorityStore {
  record(): TermRecord;
  putRecord(rec: TermRecord): void;
  /** Entries in the log (durable or not). */
  length(): bigint;
  /** How many entries, from the start, are durable. */
  durableLength(): bigint;
  entry(index: bigint): LogEntry | undefined;
  /** Drops every entry from `from` on, then appends `entries` (whose indexes start at `from`). */
  write(from: bigint, entries: readonly LogEntry[]): void;
  /** Resolves once everything written before the call is durable. */
  sync(): Promise<void>;
}

/** An in-memory store whose writes are durable at once (tests; a hub that never crashes). */
export class MemoryAuthorityStore implements AuthorityStore {
  #record: TermRecord;
  readonly #log: LogEntry[] = [];

  constructor(record: TermRecord) {
    this.#record = record;
  }

  record(): TermRecord {
    return this.#record;
  }

  putRecord(rec: TermRecord): void {
    this.#record = rec;
  }

  length(): bigint {
    return BigInt(this.#log.length);
  }

  durableLength(): bigint {
    return BigInt(this.#log.length);
  }

  entry(index: bigint): LogEntry | undefined {
    return index < 0n ? undefined : this.#log[Number(index)];
  }

  write(from: bigint, entries: readonly LogEntry[]): void {
    this.#log.length = Math.min(this.#log.length, Number(from));
    this.#log.push(...entries);
  }

  async sync(): Promise<void> {}
}
