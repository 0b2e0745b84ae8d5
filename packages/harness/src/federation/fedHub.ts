/**
 * One simulated hub of a federation world: the real room authority engine
 * (`RoomAuthorityEngine` from @kalandra/server) over its own simulated disk, its links to the
 * other hubs through the world's lossy network, and its local writers (the devices homed
 * on it). A writer's request goes to its home hub, which sequences it when it is the
 * authority or forwards it to the authority it knows (fed-rooms' routing, modelled here as
 * `fwd`/`ack` messages), and retries it with the same request id until acknowledged.
 */
import { createDeviceSigner, stateCborDecode, stateCborEncode } from "@kalandra/proto";
import {
  type AckQuorum,
  decodeAuthorityMessage,
  encodeAuthorityMessage,
  initialRecord,
  type LogEntry,
  RoomAuthorityEngine,
} from "@kalandra/server";
import type { SeededRng } from "../rng.js";
import { SimFedStore } from "./fedStore.js";
import type { FedWorld } from "./fedWorld.js";

export const FED_ROOM = 1n;
export const HEARTBEAT_MS = 50;
const WRITER_RETRY_MS = 600;

interface Writer {
  id: string;
  next: number;
  pending?: { request: string; body: Uint8Array; sentAt: bigint };
}

type Glue =
  | { k: "auth"; m: Uint8Array }
  | { k: "fwd"; request: string; body: Uint8Array }
  | { k: "ack"; request: string; index: bigint };

export class FedHub {
  readonly signer: ReturnType<typeof createDeviceSigner>;
  readonly store: SimFedStore;
  engine: RoomAuthorityEngine | undefined;
  readonly writers: Writer[] = [];
  readonly skewMs: number;
  /** What this hub served its local devices, by log index (their view of the room). */
  readonly served = new Map<bigint, LogEntry>();

  constructor(
    readonly w: FedWorld,
    readonly name: string,
    readonly rng: SeededRng,
    creator: string,
    writers: number,
  ) {
    this.signer = createDeviceSigner(rng.fork("hub-key").bytes(32));
    this.skewMs = w.maxSkewMs === 0 ? 0 : rng.int(2 * w.maxSkewMs + 1) - w.maxSkewMs;
    this.store = new SimFedStore(
      name,
      w.scheduler,
      rng.fork("disk"),
      initialRecord(FED_ROOM, creator),
    );
    for (let i = 0; i < writers; i++) this.writers.push({ id: `${name}/w${i}`, next: 0 });
  }

  get up(): boolean {
    return this.engine !== undefined;
  }

  start(): void {
    const w = this.w;
    this.engine = new RoomAuthorityEngine({
      self: this.name,
      roomId: FED_ROOM,
      store: this.store,
      keys: (d) => w.hubs.get(d)?.signer.publicKey,
      signer: this.signer,
      voters: () => w.names,
      ackQuorum: w.ackQuorum,
      failoverAfterMs: w.failoverAfterMs,
      clock: w.scheduler.clockFor(() => this.skewMs),
      rng: this.rng.fork(`engine-${w.scheduler.now}`),
      send: (to, m) => this.#send(to, { k: "auth", m: encodeAuthorityMessage(m) }),
      audit: (kind, detail) => w.audited(this.name, kind, detail),
      onCommit: (entries) => this.#serve(entries),
      onAck: (request, index) => this.#ack(request, index),
    });
    w.network.attach(this.name, (from, bytes) => this.#receive(from, bytes));
    this.#tick();
  }

  crash(written: number): void {
    this.w.scheduler.crash(this.name);
    this.w.network.detach(this.name);
    this.store.crash(written);
    this.engine = undefined;
    for (const wr of this.writers) if (wr.pending !== undefined) wr.pending.sentAt = 0n;
  }

  restart(): void {
    if (this.up) return; // healed before its own restart came due
    this.w.scheduler.restart(this.name);
    this.start();
  }

  #tick(): void {
    const timers = this.w.scheduler.timersFor(this.name);
    const loop = () => {
      this.engine?.tick();
      this.#writersTick();
      timers.set(HEARTBEAT_MS, loop);
    };
    timers.set(HEARTBEAT_MS, loop);
  }

  #send(to: string, g: Glue): void {
    this.w.network.send(this.name, to, stateCborEncode(g));
  }

  #receive(from: string, bytes: Uint8Array): void {
    const engine = this.engine;
    if (engine === undefined) return;
    const g = stateCborDecode(bytes) as Glue;
    switch (g.k) {
      case "auth":
        // Not awaited: the engine waits for fsync events, which only later events run.
        engine
          .receive(from, decodeAuthorityMessage(g.m))
          .catch((e: unknown) => this.w.violation("scenario_error", `${this.name}: ${String(e)}`));
        return;
      case "fwd":
        this.#route(g.request, g.body);
        return;
      case "ack":
        this.#acked(g.request, g.index);
        return;
    }
  }

  /** Sequences a request here when this hub is the authority, or forwards it. */
  #route(request: string, body: Uint8Array): void {
    const engine = this.engine;
    if (engine === undefined) return;
    if (!engine.sequencing) {
      const authority = engine.record.authority;
      if (authority !== this.name && homeOf(request) === this.name) {
        this.#send(authority, { k: "fwd", request, body });
      }
      return; // not the authority (or read-only): the writer retries
    }
    const r = engine.submit(request, body);
    if (r.kind === "accepted") this.w.accepted(this.name, r.term, request);
  }

  #ack(request: string, index: bigint): void {
    const home = homeOf(request);
    if (home === this.name) this.#acked(request, index);
    else this.#send(home, { k: "ack", request, index });
  }

  #acked(request: string, index: bigint): void {
    for (const wr of this.writers) {
      if (wr.pending?.request !== request) continue;
      wr.pending = undefined;
      wr.next++;
      this.w.ackedWrite(request, index);
    }
  }

  #serve(entries: readonly LogEntry[]): void {
    for (const e of entries) {
      const before = this.served.get(e.index);
      if (before !== undefined && !sameEntry(before, e)) this.w.reServed(this.name, before, e);
      this.served.set(e.index, e);
    }
  }

  #writersTick(): void {
    const now = this.w.scheduler.now;
    for (const wr of this.writers) {
      if (wr.pending === undefined) {
        if (!this.w.writing || !this.rng.chance(0.4)) continue;
        const request = `${wr.id}:${wr.next}`;
        wr.pending = { request, body: new TextEncoder().encode(request), sentAt: now };
        this.#route(request, wr.pending.body);
      } else if (now - wr.pending.sentAt >= BigInt(WRITER_RETRY_MS)) {
        wr.pending.sentAt = now;
        this.#route(wr.pending.request, wr.pending.body);
      }
    }
  }

  /** Requests still waiting for their acknowledgement. */
  pendingWrites(): number {
    return this.writers.filter((w) => w.pending !== undefined).length;
  }
}

export function homeOf(request: string): string {
  return request.slice(0, request.indexOf("/"));
}

export function sameEntry(a: LogEntry, b: LogEntry): boolean {
  return a.index === b.index && a.term === b.term && a.by === b.by && a.request === b.request;
}

export type { AckQuorum };
