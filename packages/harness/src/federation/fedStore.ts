/**
 * A simulated hub's disk for the room authority engine (server federation/authority): the
 * TermRecord and the room's log, with writes that apply at once and become durable at an
 * "fsync" event 1–5 virtual ms later, as SimDisk does for the hub's LMDB. A power loss
 * keeps the first `written` buffered operations and loses the rest.
 */
import type { AuthorityStore, LogEntry, TermRecord } from "@kalandra/server";
import type { SeededRng } from "../rng.js";
import type { Scheduler } from "../scheduler.js";

type Op =
  | { kind: "record"; rec: TermRecord }
  | { kind: "write"; from: bigint; entries: LogEntry[] };

interface Image {
  rec: TermRecord;
  log: LogEntry[];
}

function apply(img: Image, op: Op): void {
  if (op.kind === "record") img.rec = op.rec;
  else {
    img.log.length = Math.min(img.log.length, Number(op.from));
    img.log.push(...op.entries);
  }
}

export class SimFedStore implements AuthorityStore {
  #durable: Image;
  #live: Image;
  #pending: Op[] = [];
  #waiters: { upTo: number; resolve: () => void }[] = [];
  #flushed = 0;
  /** How many entries of the live log, from the start, are durable. */
  #durablePrefix = 0;
  #queued = 0;
  #fsyncScheduled = false;
  /** Bumped by a crash: an fsync scheduled before it belongs to the dead incarnation. */
  #incarnation = 0;
  fsyncs = 0;

  constructor(
    readonly node: string,
    readonly scheduler: Scheduler,
    readonly rng: SeededRng,
    initial: TermRecord,
  ) {
    this.#durable = { rec: initial, log: [] };
    this.#live = { rec: initial, log: [] };
  }

  record(): TermRecord {
    return this.#live.rec;
  }

  putRecord(rec: TermRecord): void {
    this.#push({ kind: "record", rec });
  }

  length(): bigint {
    return BigInt(this.#live.log.length);
  }

  durableLength(): bigint {
    return BigInt(this.#durablePrefix);
  }

  entry(index: bigint): LogEntry | undefined {
    return index < 0n ? undefined : this.#live.log[Number(index)];
  }

  write(from: bigint, entries: readonly LogEntry[]): void {
    this.#durablePrefix = Math.min(this.#durablePrefix, Number(from));
    this.#push({ kind: "write", from, entries: [...entries] });
  }

  sync(): Promise<void> {
    if (this.#pending.length === 0) return Promise.resolve();
    const upTo = this.#queued;
    return new Promise((resolve) => this.#waiters.push({ upTo, resolve }));
  }

  /** The durable log (what survives a crash). */
  durableLog(): readonly LogEntry[] {
    return this.#durable.log;
  }

  durableRecord(): TermRecord {
    return this.#durable.rec;
  }

  #push(op: Op): void {
    apply(this.#live, op);
    this.#pending.push(op);
    this.#queued++;
    if (this.#fsyncScheduled) return;
    this.#fsyncScheduled = true;
    const incarnation = this.#incarnation;
    this.scheduler.schedule(1 + this.rng.int(5), this.node, "fed fsync", () => {
      if (incarnation !== this.#incarnation) return;
      this.#fsync();
    });
  }

  #fsync(): void {
    this.#fsyncScheduled = false;
    this.fsyncs++;
    this.#flushed += this.#pending.length;
    this.#pending = [];
    this.#durable = { rec: this.#live.rec, log: [...this.#live.log] };
    this.#durablePrefix = this.#live.log.length;
    const ready = this.#waiters.filter((w) => w.upTo <= this.#flushed);
    this.#waiters = this.#waiters.filter((w) => w.upTo > this.#flushed);
    for (const w of ready) w.resolve();
  }

  /** Power loss: the first `written` buffered operations reach the disk, the rest are lost. */
  crash(written: number): void {
    this.#incarnation++;
    const keep = this.#pending.slice(0, Math.max(0, written));
    const img: Image = { rec: this.#durable.rec, log: [...this.#durable.log] };
    for (const op of keep) apply(img, op);
    this.#durable = img;
    this.#live = { rec: img.rec, log: [...img.log] };
    this.#durablePrefix = img.log.length;
    this.#flushed += this.#pending.length;
    this.#pending = [];
    this.#waiters = []; // their engine is gone
    this.#fsyncScheduled = false;
  }
}
