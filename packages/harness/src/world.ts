/**
 * One simulated world: a hub and client devices, all driven by one seed (DESIGN §8). The
 * world owns the scheduler (virtual time, one event queue), the lossy network, the trace,
 * and the fault actions (hub crash/restart, client crash/restart, partitions, clock skew).
 * Scenarios schedule work on it; invariants read what it recorded.
 *
 * Settling: after every event the world waits for a macrotask turn, by which time every
 * microtask the event started (the cores are promise-shaped but never wait on real I/O
 * outside the disk, which is awaited inside its own fsync events) has run. So the next
 * event is chosen only once the previous one is completely done, in the same order on
 * every run.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClientEvent, KalandraClient } from "@kalandra/client";
import { FrameHeader, Opcode } from "@kalandra/proto";
import type { AppendEntry, HubLimits, Target } from "@kalandra/server";
import { RoomAccess } from "./access.js";
import { ClientNode } from "./clientNode.js";
import { HUB, HubNode } from "./hubNode.js";
import { SimIdentity } from "./identity.js";
import { observeHubTree, sessionAttached } from "./invariants/identityChecks.js";
import type { ErasureRecord } from "./invariants.js";
import { type LinkFaults, PERFECT_LINK, SimNetwork } from "./network.js";
import { WorldObservations } from "./observations.js";
import type { SeededRng } from "./rng.js";
import { SimRun } from "./simRun.js";
import { enterSimulation } from "./simSources.js";

export interface WorldOptions {
  seed: bigint;
  clients: readonly string[];
  /** Keep every trace line in memory (to write it to a file). */
  keepTrace?: boolean;
  canaries?: readonly string[];
  /** Largest clock skew of a node, ms (each node draws its own in ±max). */
  maxSkewMs?: number;
  syncIntervalMs?: number;
  retryMs?: number;
  hubLimits?: Partial<HubLimits>;
}

export type { Violation } from "./simRun.js";

export class World extends SimRun {
  /** Every client connection lost during the run, and why (keep-alive scenarios count them). */
  readonly connectionsLost: { client: string; reason: string }[] = [];
  readonly network: SimNetwork;
  readonly hub: HubNode;
  /** The honest devices (every invariant reads them), by node name. */
  readonly clients = new Map<string, ClientNode>();
  /**
   * Devices run by an attacker on the real client code (attacker.ts), by node name: the
   * hub serves them like any other; the invariants do not count them as honest members.
   */
  readonly attackers = new Map<string, ClientNode>();
  /** Which user each device key speaks for (the hub's Authenticator, DESIGN §10). */
  readonly identity = new SimIdentity();
  /** Who the honest actors admitted to each room (room_access). */
  readonly access = new RoomAccess();
  /** Node name → the user the world created its device for. */
  readonly #owners = new Map<string, string>();
  readonly dir: string;
  readonly #faultRng: SeededRng;
  readonly #skews = new Map<string, number>();
  /** Observers of what the hub core emits and what its disk buffers (scenario hooks). */
  readonly sinkObservers: ((target: Target, frame: Uint8Array) => void)[] = [];
  readonly appendObservers: ((entries: readonly AppendEntry[]) => void)[] = [];
  /** Observers of every honest client's events (whichever incarnation of it). */
  readonly eventObservers: ((node: string, e: ClientEvent) => void)[] = [];
  /** What the invariants read of the run: epochs, removals, erasures (observations.ts). */
  readonly observed = new WorldObservations((invariant, detail) =>
    this.violation(invariant, detail),
  );
  #release: (() => void) | undefined;
  #closed = false;

  private constructor(readonly o: WorldOptions) {
    super(o.seed, o.keepTrace === true);
    this.network = new SimNetwork(this.scheduler, this.rng.fork("network"));
    this.#faultRng = this.rng.fork("faults");
    this.dir = mkdtempSync(join(tmpdir(), "kalandra-sim-"));
    const maxSkew = o.maxSkewMs ?? 0;
    const skew = (node: string) => {
      const s = maxSkew > 0 ? this.#faultRng.int(2 * maxSkew + 1) - maxSkew : 0;
      this.#skews.set(node, s);
      return s;
    };
    const hubSkew = skew(HUB);
    this.hub = new HubNode({
      dir: this.dir,
      scheduler: this.scheduler,
      network: this.network,
      rng: this.rng.fork(HUB),
      clock: this.scheduler.clockFor(() => hubSkew),
      ...(o.hubLimits === undefined ? {} : { limits: o.hubLimits }),
      onConnectionClosed: (client, reason) => this.#connectionLost(client, reason),
      authenticator: this.identity,
      onAuthenticated: (senderId, userId) => sessionAttached(this, senderId, userId),
      onSink: (target, frame) => {
        this.observed.served(frame);
        for (const f of this.sinkObservers) f(target, frame);
      },
      onAppend: (entries) => {
        this.#appended(entries);
        for (const f of this.appendObservers) f(entries);
      },
    });
    for (const name of o.clients) {
      const s = skew(name);
      this.clients.set(name, this.#clientNode(name, this.rng.fork(`client-${name}`), s));
    }
  }

  #clientNode(name: string, rng: SeededRng, skewMs: number, userId?: string): ClientNode {
    return new ClientNode({
      name,
      ...(userId === undefined ? {} : { userId }),
      scheduler: this.scheduler,
      network: this.network,
      rng,
      clock: this.scheduler.clockFor(() => skewMs),
      hubPublicKey: this.hub.signer.publicKey,
      syncIntervalMs: this.o.syncIntervalMs ?? 10_000,
      retryMs: this.o.retryMs ?? 700,
      onDropped: (node, reason) => {
        if (this.clients.get(node.name) === node) this.#connectionLost(node.name, reason);
      },
      // An attacker's view of a room is no evidence (only its determinism is checked).
      onEvent: (node, e) => {
        if (this.clients.get(node.name) === node || e.type === "error") {
          this.observed.clientEvent(node.name, e);
        }
        if (this.clients.get(node.name) === node)
          for (const f of this.eventObservers) f(node.name, e);
      },
    });
  }

  /**
   * A device of user `owner` that runs the real client code but claims to be `claims`
   * (its HELLO's user_id and its credentials): an impostor when the two differ, a
   * malicious insider when they do not. Not started; `connectAttacker` connects it.
   */
  addAttacker(name: string, owner: string, claims: string = owner): ClientNode {
    if (this.clients.has(name) || this.attackers.has(name)) throw new Error(`${name} exists`);
    const node = this.#clientNode(name, this.rng.fork(`attacker-${name}`), 0, claims);
    this.attackers.set(name, node);
    this.#owners.set(name, owner);
    return node;
  }

  /** Opens an attacker's device and connects it once (no reconnects: it is on its own). */
  async connectAttacker(name: string): Promise<KalandraClient> {
    const node = this.attackers.get(name);
    if (node === undefined) throw new RangeError(`no attacker ${name}`);
    const client = node.client ?? (await this.#open(node));
    this.hub.openConnection(name);
    await client.connect();
    return client;
  }

  /** Opens a node's client and binds its device key to the user it was created for. */
  async #open(node: ClientNode): Promise<KalandraClient> {
    const client = await node.open();
    this.identity.bind(client.signer.publicKey, this.#owners.get(node.name) ?? node.name);
    return client;
  }

  /**
   * What the hub sequenced, as its disk buffers it: a room's creator is admitted to it,
   * and the tree after each commit is judged (room_access, leaf_owner).
   */
  #appended(entries: readonly AppendEntry[]): void {
    for (const e of entries) {
      const opcode = FrameHeader.view(e.header).opcode;
      if (opcode === Opcode.ROOM_CREATE) {
        const owner = this.identity.ownerOf(e.senderId);
        if (owner !== undefined) this.access.admit(e.roomId, [owner]);
      } else if (opcode === Opcode.COMMIT || opcode === Opcode.EXTERNAL_COMMIT) {
        observeHubTree(this, e.roomId);
      }
    }
  }

  /** Builds the world, installs the determinism guards and the canaries, starts the hub. */
  static async create(o: WorldOptions): Promise<World> {
    const w = new World(o);
    w.#release = enterSimulation({
      nowMs: () => w.scheduler.now,
      rng: w.rng.fork("third-party"),
      violation: (i, d) => w.violation(i, d),
      canaries: o.canaries ?? [],
    });
    await w.hub.start();
    return w;
  }

  client(name: string): ClientNode {
    const c = this.clients.get(name);
    if (c === undefined) throw new RangeError(`no client ${name}`);
    return c;
  }

  /** The client object of a live node (throws when crashed). */
  api(name: string): KalandraClient {
    const c = this.client(name).client;
    if (c === undefined) throw new Error(`client ${name} is down`);
    return c;
  }

  // ---- clients ---------------------------------------------------------------------------------

  /** Opens and connects every client (perfect network expected). */
  async startClients(names: readonly string[] = [...this.clients.keys()]): Promise<void> {
    for (const name of names) {
      await this.perform(`open ${name}`, async () => {
        const node = this.client(name);
        const client = await this.#open(node);
        this.hub.openConnection(name);
        await client.connect();
      });
    }
  }

  /** Client crash: the object is dropped; it restarts after `downMs`. */
  crashClient(name: string, downMs: number): void {
    const node = this.client(name);
    if (node.down) return;
    this.trace.record(`crash ${name}`);
    node.crash();
    this.hub.dropConnection(name);
    this.scheduler.schedule(downMs, "harness", `restart ${name}`, () => this.#restartClient(name));
  }

  async #restartClient(name: string): Promise<void> {
    const node = this.client(name);
    this.scheduler.restart(name);
    node.down = false;
    const client = await this.#open(node);
    if (!this.hub.up) {
      // Keep trying until the hub is back (the reconnect loop waits for it).
      this.scheduler.schedule(500, "harness", `reconnect ${name}`, () => this.#reconnect(name));
      return;
    }
    this.hub.openConnection(name);
    this.#connect(node, client.connect());
  }

  #connect(node: ClientNode, p: Promise<void>): void {
    node.track(p, () => this.#connectionLost(node.name, "connect failed"));
  }

  /** The transport tells the client its connection is gone; it reconnects later. */
  #connectionLost(name: string, reason: string): void {
    const node = this.clients.get(name);
    if (node === undefined || node.down) return;
    this.trace.record(`connection lost ${name}: ${reason}`);
    this.connectionsLost.push({ client: name, reason });
    node.client?.disconnect();
    this.scheduler.schedule(200 + this.#faultRng.int(800), "harness", `reconnect ${name}`, () =>
      this.#reconnect(name),
    );
  }

  async #reconnect(name: string): Promise<void> {
    const node = this.client(name);
    if (node.down) return;
    if (!this.hub.up) {
      this.scheduler.schedule(500, "harness", `reconnect ${name}`, () => this.#reconnect(name));
      return;
    }
    if (node.connecting !== undefined || node.client === undefined) {
      // A connect still waits on the old connection: restart the app (the store survives).
      node.crash();
      await this.#restartClient(name);
      return;
    }
    const conn = node.newConnection();
    this.hub.openConnection(name);
    this.#connect(node, node.client.reconnect(conn));
  }

  // ---- hub -------------------------------------------------------------------------------------

  /**
   * Hub power loss now; `written` of the buffered writes reached the disk. It restarts
   * from its LMDB directory after `downMs`.
   */
  async crashHub(written: number, downMs: number): Promise<void> {
    if (!this.hub.up) return;
    this.trace.record(`crash hub written=${written}`);
    await this.hub.crash(written);
    this.scheduler.schedule(downMs, "harness", "restart hub", async () => {
      await this.hub.restart();
      this.trace.record("hub restarted");
    });
  }

  // ---- network ---------------------------------------------------------------------------------

  /** Same faults on every link (hub ↔ each client). */
  setLinks(f: LinkFaults): void {
    this.network.setDefaults(f);
    this.trace.record(`links loss=${f.loss} dup=${f.duplicate} reorder=${f.reorder}`);
  }

  heal(): void {
    this.network.heal();
    this.network.setDefaults(PERFECT_LINK);
  }

  skewOf(node: string): number {
    return this.#skews.get(node) ?? 0;
  }

  // ---- recording (observations.ts) -------------------------------------------------------------

  /** (room, epoch) → tree hash hex, as the first member to enter it saw it. */
  get epochHashes(): ReadonlyMap<string, { hash: string; by: string }> {
    return this.observed.epochHashes;
  }

  /** Erasures made durable during the run. */
  get erasures(): readonly ErasureRecord[] {
    return this.observed.erasures;
  }

  /** The epoch at which other members saw `user` removed from the room. */
  removalEpoch(roomId: bigint, user: string): bigint | undefined {
    return this.observed.removalEpoch(roomId, user);
  }

  /** Whether `user` was out of the room in `epoch` (observations.ts `removedIn`). */
  removedIn(roomId: bigint, user: string, epoch: bigint): boolean {
    return this.observed.removedIn(roomId, user, epoch);
  }

  /**
   * Erases one message at the hub (operator secure delete, DESIGN §5); once durable it is
   * recorded for `erased_unrecoverable`. Call from inside an event.
   */
  eraseMessage(roomId: bigint, logIndex: bigint): void {
    const lmdb = this.hub.lmdb;
    const disk = this.hub.disk;
    if (lmdb === undefined || disk === undefined) return;
    const key = lmdb.inspectPayloadKey(roomId, logIndex);
    if (key === undefined) return;
    this.trace.record(`erase ${roomId}:${logIndex}`);
    disk.secureDelete(roomId, logIndex).then(
      (done) => {
        if (done) this.observed.erased({ roomId, logIndex, key });
      },
      () => undefined,
    );
  }

  /** Releases the guards and canaries and removes the data directory. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of this.clients.values()) {
      if (c.client !== undefined) c.crash();
    }
    if (this.hub.up) await this.hub.crash(Number.MAX_SAFE_INTEGER);
    this.#release?.();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
