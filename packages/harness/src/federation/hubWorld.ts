/**
 * A federation world of REAL hubs (issue 18): 2–5 hubs, each the shipped `HubHost` over the
 * real `HubCore` + `FederationCore` and its own LMDB directory (hubNode.ts, as the
 * single-hub world runs it), linked through the simulated network by the shipped link core
 * (simLinks.ts: handshake, keepalive, redial), and real MLS clients (the shipped client
 * core) homed on different hubs in cross-domain rooms. Hubs are named by their domain on
 * the network (`a.example` …), clients by their user id (`alice@a.example`).
 *
 * The same faults as the single-hub world: loss, duplication, reordering, partitions
 * (between hubs, or a client and its hub), hub crash/restart, clock skew per node.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClientEvent, KalandraClient } from "@kalandra/client";
import {
  createDeviceSigner,
  decodeErrorPayload,
  FrameHeader,
  HEADER_SIZE,
  Opcode,
} from "@kalandra/proto";
import { staticPeerPolicy, type Target } from "@kalandra/server";
import { ClientNode } from "../clientNode.js";
import { HubNode } from "../hubNode.js";
import { SimIdentity } from "../identity.js";
import { type LinkFaults, PERFECT_LINK, SimNetwork } from "../network.js";
import { WorldObservations } from "../observations.js";
import type { SeededRng } from "../rng.js";
import { SimRun } from "../simRun.js";
import { enterSimulation } from "../simSources.js";
import { SimHubLinks } from "./simLinks.js";

/** User names, handed out hub by hub (hub a gets the first `usersPerHub`, …). */
export const FED_USERS = [
  "alice",
  "bob",
  "carol",
  "dave",
  "erin",
  "frank",
  "grace",
  "heidi",
  "ivan",
  "judy",
  "mallory",
  "niaj",
  "olivia",
  "peggy",
  "rupert",
] as const;

/** `a.example`, `b.example` … */
export function hubDomain(i: number): string {
  return `${String.fromCharCode(97 + i)}.example`;
}

export interface FedHubWorldOptions {
  seed: bigint;
  hubs: number;
  usersPerHub: number;
  maxSkewMs?: number;
  canaries?: readonly string[];
  keepTrace?: boolean;
  /** Observes every frame a hub core emits (scenario hooks). */
  onSink?(hub: string, frame: Uint8Array): void;
  /** `federation.ack_quorum` of every hub (default "local"). */
  ackQuorum?: "local" | "majority";
  /** `federation.failover_after_ms` of every hub (default the hub's, 3000). */
  failoverAfterMs?: number;
  /** `federation.enlist_hubs` of every hub (default the hub's, as kalandrad's). */
  enlistHubs?: boolean;
}

/** How often each hub's runtime ticks its federation core (kalandrad: every 100 ms). */
export const FED_TICK_MS = 100;

export interface FedHub {
  readonly domain: string;
  readonly node: HubNode;
  readonly links: SimHubLinks;
}

export class FedHubWorld extends SimRun {
  readonly network: SimNetwork;
  readonly identity = new SimIdentity();
  readonly hubs = new Map<string, FedHub>();
  /** Honest devices by user id (every invariant reads them). */
  readonly clients = new Map<string, ClientNode>();
  readonly notes: Record<string, number> = {};
  /** Presence/typing a client got from a user homed on another hub (relay_ban reads them). */
  readonly ephemerals: { client: string; senderId: bigint; at: bigint }[] = [];
  readonly observed = new WorldObservations((i, d) => this.violation(i, d));
  readonly dir: string;
  readonly #faultRng: SeededRng;
  readonly #skews = new Map<string, number>();
  #connIds = 0;
  #release: (() => void) | undefined;
  #closed = false;

  private constructor(readonly o: FedHubWorldOptions) {
    super(o.seed, o.keepTrace === true);
    this.network = new SimNetwork(this.scheduler, this.rng.fork("network"));
    this.#faultRng = this.rng.fork("faults");
    this.dir = mkdtempSync(join(tmpdir(), "kalandra-fedsim-"));
    const domains = Array.from({ length: o.hubs }, (_, i) => hubDomain(i));
    const keys = new Map(
      // The key each HubNode derives from its stream (hubNode.ts): what its peers pin.
      domains.map((d) => [d, createDeviceSigner(this.rng.fork(d).fork("hub-key").bytes(32))]),
    );
    for (const domain of domains) this.#hub(domain, domains, keys);
    if (o.hubs * o.usersPerHub > FED_USERS.length) throw new RangeError("too many users");
    for (const [i, domain] of domains.entries()) {
      for (let k = 0; k < o.usersPerHub; k++) {
        this.#client(`${FED_USERS[i * o.usersPerHub + k]}@${domain}`);
      }
    }
  }

  #skew(node: string): number {
    const max = this.o.maxSkewMs ?? 0;
    const s = max > 0 ? this.#faultRng.int(2 * max + 1) - max : 0;
    this.#skews.set(node, s);
    return s;
  }

  #hub(
    domain: string,
    domains: readonly string[],
    keys: ReadonlyMap<string, ReturnType<typeof createDeviceSigner>>,
  ): void {
    const skew = this.#skew(domain);
    const clock = this.scheduler.clockFor(() => skew);
    const rng = this.rng.fork(domain);
    const peerDomains = domains.filter((d) => d !== domain);
    const policy = staticPeerPolicy({
      domain,
      peers: peerDomains.map((d) => ({ domain: d, hubKey: keys.get(d)!.publicKey })),
    });
    let node: HubNode | undefined;
    const links = new SimHubLinks({
      domain,
      signer: keys.get(domain)!,
      policy,
      peers: peerDomains,
      network: this.network,
      clock,
      rng: rng.fork("links"),
      nextConnId: () => ++this.#connIds,
      core: () => node?.core?.federation,
      trace: (line) => this.trace.record(line),
    });
    const dir = join(this.dir, domain);
    node = new HubNode({
      dir,
      node: domain,
      scheduler: this.scheduler,
      network: this.network,
      rng,
      clock,
      authenticator: this.identity,
      onConnectionClosed: (client, reason) => this.#connectionLost(client, reason),
      onPeerBytes: (from, bytes) => links.receive(from, bytes),
      onSink: (target, frame) => {
        this.observed.served(frame);
        this.#traceRefusal(domain, target, frame);
        this.o.onSink?.(domain, frame);
      },
      federation: {
        peers: policy,
        links,
        ...(this.o.ackQuorum === undefined ? {} : { ackQuorum: this.o.ackQuorum }),
        ...(this.o.failoverAfterMs === undefined
          ? {}
          : { failoverAfterMs: this.o.failoverAfterMs }),
        ...(this.o.enlistHubs === undefined ? {} : { enlistHubs: this.o.enlistHubs }),
      },
    });
    this.hubs.set(domain, { domain, node, links });
  }

  /** Every refusal a hub answers a session with goes to the trace (what a failing seed shows). */
  #traceRefusal(domain: string, target: Target, frame: Uint8Array): void {
    if (target.kind !== "session" || frame.length < HEADER_SIZE) return;
    if (FrameHeader.view(frame).opcode !== Opcode.ERROR) return;
    let name = "?";
    try {
      name = decodeErrorPayload(frame.subarray(HEADER_SIZE)).name;
    } catch {
      // not an error payload
    }
    this.trace.record(`${domain} refused ${target.sessionId}: ${name}`);
  }

  #client(userId: string): void {
    const home = userId.slice(userId.indexOf("@") + 1);
    const hub = this.hub(home);
    const skew = this.#skew(userId);
    const node = new ClientNode({
      name: userId,
      hub: home,
      scheduler: this.scheduler,
      network: this.network,
      rng: this.rng.fork(`client-${userId}`),
      clock: this.scheduler.clockFor(() => skew),
      hubPublicKey: hub.node.signer.publicKey,
      syncIntervalMs: 5000,
      retryMs: 700,
      onDropped: (n, reason) => this.#connectionLost(n.name, reason),
      onEvent: (n, e: ClientEvent) => {
        this.observed.clientEvent(n.name, e);
        // A signal that arrived (not one that lapsed on the client's own timer).
        const arrived =
          (e.type === "presence" && e.status !== undefined) || (e.type === "typing" && e.typing);
        if (arrived && this.homeOf(e.userId) !== home) {
          this.note("ephemeral_across_hubs");
          this.ephemerals.push({ client: n.name, senderId: e.senderId, at: this.scheduler.now });
        }
      },
    });
    this.clients.set(userId, node);
  }

  static async create(o: FedHubWorldOptions): Promise<FedHubWorld> {
    const w = new FedHubWorld(o);
    w.#release = enterSimulation({
      nowMs: () => w.scheduler.now,
      rng: w.rng.fork("third-party"),
      violation: (i, d) => w.violation(i, d),
      canaries: o.canaries ?? [],
    });
    for (const h of w.hubs.values()) await w.#startHub(h);
    return w;
  }

  async #startHub(h: FedHub): Promise<void> {
    await h.node.start();
    const timers = this.scheduler.timersFor(h.domain);
    h.links.start(timers);
    // The runtime's federation tick (transfers, failover): dies with the hub's timers.
    const tick = () => {
      h.node.core?.federation?.tick();
      timers.set(FED_TICK_MS, tick);
    };
    timers.set(FED_TICK_MS, tick);
  }

  get domains(): string[] {
    return [...this.hubs.keys()];
  }

  /** The hubs' network names (their domains), as fault plans address them. */
  get names(): string[] {
    return this.domains;
  }

  hub(domain: string): FedHub {
    const h = this.hubs.get(domain);
    if (h === undefined) throw new RangeError(`no hub ${domain}`);
    return h;
  }

  client(name: string): ClientNode {
    const c = this.clients.get(name);
    if (c === undefined) throw new RangeError(`no client ${name}`);
    return c;
  }

  api(name: string): KalandraClient {
    const c = this.client(name).client;
    if (c === undefined) throw new Error(`client ${name} is down`);
    return c;
  }

  homeOf(name: string): string {
    return name.slice(name.indexOf("@") + 1);
  }

  note(key: string, n = 1): void {
    this.notes[key] = (this.notes[key] ?? 0) + n;
  }

  skewOf(node: string): number {
    return this.#skews.get(node) ?? 0;
  }

  // ---- clients ---------------------------------------------------------------------------------

  /** Opens and connects every client (perfect network expected). */
  async startClients(): Promise<void> {
    for (const [name, node] of this.clients) {
      await this.perform(`open ${name}`, async () => {
        const client = await node.open();
        this.identity.bind(client.signer.publicKey, name);
        this.hub(this.homeOf(name)).node.openConnection(name);
        await client.connect();
      });
    }
  }

  /** The removal-epoch view the client checks read (observations.ts). */
  removalEpoch(roomId: bigint, user: string): bigint | undefined {
    return this.observed.removalEpoch(roomId, user);
  }

  removedIn(roomId: bigint, user: string, epoch: bigint): boolean {
    return this.observed.removedIn(roomId, user, epoch);
  }

  #connectionLost(name: string, reason: string): void {
    const node = this.clients.get(name);
    if (node === undefined || node.down) return;
    this.trace.record(`connection lost ${name}: ${reason}`);
    node.client?.disconnect();
    this.scheduler.schedule(200 + this.#faultRng.int(800), "harness", `reconnect ${name}`, () =>
      this.#reconnect(name),
    );
  }

  async #reconnect(name: string): Promise<void> {
    const node = this.client(name);
    const hub = this.hub(this.homeOf(name)).node;
    if (node.down) return;
    if (!hub.up) {
      this.scheduler.schedule(500, "harness", `reconnect ${name}`, () => this.#reconnect(name));
      return;
    }
    if (node.connecting !== undefined || node.client === undefined) {
      // A connect still waits on the old connection: restart the app (the store survives).
      node.crash();
      this.scheduler.restart(name);
      node.down = false;
      const client = await node.open();
      hub.openConnection(name);
      this.#connect(node, client.connect());
      return;
    }
    const conn = node.newConnection();
    hub.openConnection(name);
    this.#connect(node, node.client.reconnect(conn));
  }

  #connect(node: ClientNode, p: Promise<void>): void {
    node.track(p, () => this.#connectionLost(node.name, "connect failed"));
  }

  // ---- hubs and the network ------------------------------------------------------------------

  /** Power loss of `domain` now (`written` buffered writes reached its disk); back after `downMs`. */
  async crashHub(domain: string, written: number, downMs: number): Promise<void> {
    const h = this.hub(domain);
    if (!h.node.up) return;
    this.trace.record(`crash ${domain} written=${written}`);
    this.note("hub_crashes");
    h.links.stop();
    await h.node.crash(written);
    this.scheduler.schedule(downMs, "harness", `restart ${domain}`, async () => {
      this.scheduler.restart(domain);
      await this.#startHub(h);
      this.trace.record(`${domain} restarted`);
    });
  }

  /** Faults on every link between two hubs (both directions). */
  setHubLinks(f: LinkFaults): void {
    for (const a of this.domains)
      for (const b of this.domains) if (a !== b) this.network.setLink(a, b, f);
    this.trace.record(`hub links loss=${f.loss} dup=${f.duplicate} reorder=${f.reorder}`);
  }

  /** Faults on every link between a client and its hub (both directions). */
  setClientLinks(f: LinkFaults): void {
    for (const name of this.clients.keys()) {
      this.network.setLink(name, this.homeOf(name), f);
      this.network.setLink(this.homeOf(name), name, f);
    }
  }

  heal(): void {
    this.network.heal();
    this.network.setDefaults(PERFECT_LINK);
  }

  /** Releases the guards and canaries and removes the data directories. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of this.clients.values()) if (c.client !== undefined) c.crash();
    for (const h of this.hubs.values()) {
      h.links.stop();
      if (h.node.up) await h.node.crash(Number.MAX_SAFE_INTEGER);
    }
    this.#release?.();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
