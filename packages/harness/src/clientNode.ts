/**
 * A simulated client device: the real `KalandraClient` over a simulated connection, its
 * persistence in a `MemoryStore` that outlives crashes, and what the invariants need to
 * know about it: the sequenced frames it received (log prefix), the ACKs it got (nothing
 * acknowledged may be lost), the messages it delivered and the epochs it entered.
 */
import { createHash } from "node:crypto";
import {
  getKalandraCiphersuiteImpl,
  type HubConnection,
  KalandraClient,
  MemoryStore,
} from "@kalandra/client";
import {
  type Clock,
  decodePayload,
  Flag,
  FrameHeader,
  HEADER_SIZE,
  isSequenced,
  maySend,
  Opcode,
} from "@kalandra/proto";
import { HUB } from "./hubNode.js";
import type { SimNetwork } from "./network.js";
import type { SeededRng } from "./rng.js";
import type { Scheduler } from "./scheduler.js";

/** A client's request the hub sequences: its ACK names a log_index, its push is a log entry. */
const sequencedRequest = (opcode: number): boolean =>
  isSequenced(opcode) && maySend(opcode, "client");

export interface SeenFrame {
  header: Uint8Array;
  /** SHA-256 of the payload, or null when it arrived as an erased tombstone. */
  payload: string | null;
}

export interface AckRecord {
  roomId: bigint;
  logIndex: bigint;
  requestId: number;
  opcode: number;
}

export interface Delivered {
  logIndex: bigint;
  epoch: bigint;
  senderId: bigint;
  text: string;
  at: bigint;
}

const td = new TextDecoder();
const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

class SimConnection implements HubConnection {
  open = true;
  #cb: ((frame: Uint8Array) => void) | undefined;
  constructor(private readonly node: ClientNode) {}
  send(frame: Uint8Array): void {
    if (this.open) this.node.sendToHub(frame);
  }
  onFrame(cb: (frame: Uint8Array) => void): void {
    this.#cb = cb;
  }
  close(): void {
    this.open = false;
  }
  /** The client core found the hub silent (keep-alive): the node's owner reconnects it. */
  drop(reason: string): void {
    if (!this.open) return;
    this.open = false;
    this.node.dropped(reason);
  }
  deliver(bytes: Uint8Array): void {
    if (this.open) this.#cb?.(bytes);
  }
}

export interface ClientNodeOptions {
  name: string;
  /** The user id the device claims (HELLO, credentials); default its name. */
  userId?: string;
  scheduler: Scheduler;
  network: SimNetwork;
  rng: SeededRng;
  clock: Clock;
  hubPublicKey: Uint8Array;
  /** The home hub's node name (default `HUB`). */
  hub?: string;
  syncIntervalMs: number;
  retryMs: number;
  /**
   * The client dropped its connection (the hub silent past its keep-alive timeout); the
   * world reconnects it as after any loss.
   */
  onDropped?(node: ClientNode, reason: string): void;
  /** Called with every client event (the world checks epoch/tree-hash agreement). */
  onEvent(node: ClientNode, e: Parameters<Parameters<KalandraClient["on"]>[0]>[0]): void;
}

export class ClientNode {
  readonly name: string;
  readonly store = new MemoryStore();
  client: KalandraClient | undefined;
  #conn: SimConnection | undefined;
  #incarnation = 0;
  /** A connect() in progress (the client is not usable for requests until it settles). */
  connecting: Promise<void> | undefined;
  /** True while the node is crashed. */
  down = false;
  senderId = 0n;

  // ---- what the invariants read ----------------------------------------------------------
  readonly seen = new Map<string, SeenFrame>();
  readonly acks: AckRecord[] = [];
  readonly delivered = new Map<bigint, Map<bigint, Delivered>>();
  readonly removedAt = new Map<bigint, bigint>();
  readonly joinedAt = new Map<bigint, bigint>();
  readonly rejected: { roomId: bigint; logIndex: bigint; reason: string }[] = [];
  readonly duplicates: string[] = [];
  readonly #requests = new Map<number, number>();

  constructor(private readonly o: ClientNodeOptions) {
    this.name = o.name;
    o.network.attach(o.name, (_from, bytes) => this.#fromHub(bytes));
  }

  /** Opens the client object (a fresh one after a crash), reloading from the store. */
  async open(): Promise<KalandraClient> {
    const inc = ++this.#incarnation;
    const rng = this.o.rng.fork(`incarnation-${inc}`);
    const conn = new SimConnection(this);
    this.#conn = conn;
    const client = await KalandraClient.open({
      connection: conn,
      clock: this.o.clock,
      rng: rng.fork("client"),
      timers: this.o.scheduler.timersFor(this.name),
      store: this.store,
      hubPublicKey: this.o.hubPublicKey,
      cs: getKalandraCiphersuiteImpl(rng.fork("mls")),
      userId: this.o.userId ?? this.name,
      requestPolicy: { retryMs: this.o.retryMs, maxAttempts: 1_000_000 },
      keyPackageTarget: 2,
      syncIntervalMs: this.o.syncIntervalMs,
    });
    this.senderId = client.senderId;
    client.on((e) => this.#onEvent(e));
    this.client = client;
    return client;
  }

  /** A fresh connection object for `reconnect`. */
  newConnection(): HubConnection {
    this.#conn?.close();
    const conn = new SimConnection(this);
    this.#conn = conn;
    return conn;
  }

  /** Crash: the object and its timers are dropped; only the store survives. */
  crash(): void {
    this.o.scheduler.crash(this.name);
    this.#conn?.close();
    this.#conn = undefined;
    this.client = undefined;
    this.connecting = undefined;
    this.down = true;
  }

  /**
   * Tracks a connect in progress (`connecting` until it settles); `onFailed` when it fails
   * while still the latest one.
   */
  track(p: Promise<void>, onFailed: () => void): void {
    const marker: Promise<void> = p.then(
      () => {
        if (this.connecting === marker) this.connecting = undefined;
      },
      () => {
        if (this.connecting === marker) this.connecting = undefined;
        onFailed();
      },
    );
    this.connecting = marker;
  }

  /** Called by the node's connection when the client core dropped it. */
  dropped(reason: string): void {
    this.o.onDropped?.(this, reason);
  }

  sendToHub(frame: Uint8Array): void {
    if (frame.length >= HEADER_SIZE) {
      const h = FrameHeader.view(frame);
      if (sequencedRequest(h.opcode)) this.#requests.set(h.requestId, h.opcode);
    }
    this.o.network.send(this.name, this.o.hub ?? HUB, frame);
  }

  #fromHub(bytes: Uint8Array): void {
    if (this.down) return;
    this.#record(bytes);
    this.#conn?.deliver(bytes);
  }

  /** Records what the hub told this device, before the client sees it. */
  #record(bytes: Uint8Array): void {
    if (bytes.length < HEADER_SIZE) return;
    const h = FrameHeader.view(bytes);
    const { flags, opcode } = h;
    if ((flags & Flag.RESPONSE) !== 0) {
      if ((flags & Flag.ERROR) !== 0) return;
      const requestId = h.requestId;
      if (opcode === Opcode.ACK) {
        const req = this.#requests.get(requestId);
        if (req !== undefined) {
          this.acks.push({ roomId: h.roomId, logIndex: h.logIndex, requestId, opcode: req });
          this.#requests.delete(requestId);
        }
      } else if (opcode === Opcode.SYNC_PAGE) {
        let page: { entries: { header: Uint8Array; payload: Uint8Array | null }[] };
        try {
          page = decodePayload(Opcode.SYNC_PAGE, bytes.subarray(HEADER_SIZE));
        } catch {
          return;
        }
        for (const e of page.entries) this.#seen(e.header, e.payload);
      }
      return;
    }
    if (sequencedRequest(opcode) && h.logIndex !== 0n) {
      this.#seen(bytes.subarray(0, HEADER_SIZE), bytes.subarray(HEADER_SIZE));
    }
  }

  #seen(header: Uint8Array, payload: Uint8Array | null): void {
    if (header.length !== HEADER_SIZE) return;
    const h = FrameHeader.view(header);
    const key = `${h.roomId}:${h.logIndex}`;
    const prev = this.seen.get(key);
    const digest = payload === null ? null : sha(payload);
    if (prev !== undefined && (prev.payload !== null || digest === null)) return;
    this.seen.set(key, { header: header.slice(), payload: digest });
  }

  #onEvent(e: Parameters<Parameters<KalandraClient["on"]>[0]>[0]): void {
    switch (e.type) {
      case "message": {
        let room = this.delivered.get(e.roomId);
        if (room === undefined) {
          room = new Map();
          this.delivered.set(e.roomId, room);
        }
        const text = td.decode(e.plaintext);
        if (room.has(e.logIndex)) this.duplicates.push(`${e.roomId}:${e.logIndex}`);
        room.set(e.logIndex, {
          logIndex: e.logIndex,
          epoch: e.epoch,
          senderId: e.senderId,
          text,
          at: this.o.scheduler.now,
        });
        break;
      }
      case "removed":
        if (!this.removedAt.has(e.roomId)) this.removedAt.set(e.roomId, e.epoch);
        break;
      case "joined":
        // The first join counts (a resync rejoin must still deliver what came before it),
        // unless the device had been removed: added back, it owes only what came after.
        if (!this.joinedAt.has(e.roomId) || this.removedAt.has(e.roomId)) {
          this.joinedAt.set(e.roomId, e.epoch);
          this.removedAt.delete(e.roomId);
        }
        break;
      case "rejected":
        this.rejected.push({ roomId: e.roomId, logIndex: e.logIndex, reason: e.reason });
        break;
      default:
        break;
    }
    this.o.onEvent(this, e);
  }
}
