/**
 * Hubs federating in one process (DESIGN §11): each a real HubCore over its own storage,
 * with real MLS devices (test/hub/harness.ts), linked by an in-memory network that carries
 * envelopes between their federation cores. `settle` runs the network and the shards until
 * nothing is in flight. Links are up from the start (the handshake is fed-runtime's).
 */
import { createDeviceSigner, type DeviceSigner, Frame, FrameHeader } from "@kalandra/proto";
import { ManualTime, seededRng } from "@kalandra/test-support";
import type {
  AuthorityHandler,
  FederationSetup,
  PeerLinks,
} from "../../src/federation/contract.js";
import { staticPeerPolicy } from "../../src/federation/peerPolicy.js";
import { DEFAULT_HUB_LIMITS, HubCore } from "../../src/hub/hubCore.js";
import { WelcomeInbox } from "../../src/inbox/welcomeInbox.js";
import { shardModeration } from "../../src/moderation/shardModeration.js";
import { publicGroupViews } from "../../src/sequencer/publicGroupViews.js";
import { InProcessShards } from "../../src/shards/inProcess.js";
import { MemoryStorage } from "../../src/storage/memoryStorage.js";
import type { Storage } from "../../src/storage/types.js";
import type { BanPolicy } from "../../src/vocabulary/bans.js";
import type { Sink, Target } from "../../src/vocabulary/target.js";
import { type Answer, answerTo, type Client, type Env, HUB_SEED, makeEnv } from "../hub/harness.js";

export interface Message {
  from: string;
  to: string;
  bytes: Uint8Array;
}

export class Net {
  readonly hubs = new Map<string, Env>();
  readonly signers = new Map<string, DeviceSigner>();
  readonly queue: Message[] = [];
  /** Every message sent, for assertions on what crossed a link. */
  readonly log: Message[] = [];
  readonly time = new ManualTime();
  /** Rewrites (or drops, with undefined) a message on its way: a hostile or broken link. */
  tamper: ((m: Message) => Message | undefined) | undefined;
  /** Opens a hub over a storage (a restart opens it again over the same data). */
  readonly open = new Map<string, (storage: Storage) => Promise<HubCore>>();
  /** Hubs that are down (crashed): messages to them are lost. */
  readonly down = new Set<string>();
  /** Pairs of hubs with no link of their own ("a|b", sorted): they reach each other via a relay. */
  readonly unlinked = new Set<string>();
  /** Each hub's shard storage, where its shards keep their own (`shardStorage`). */
  readonly shardStorage = new Map<string, Storage>();

  /** The hub stops (its links go down at every peer); its storage stays as it was. */
  async crash(domain: string): Promise<void> {
    const env = this.hub(domain);
    this.down.add(domain);
    for (const other of this.hubs.keys()) {
      // A hub reached through a relay has no link to lose (its relay's link stays up).
      if (other !== domain && !this.unlinked.has([domain, other].sort().join("|"))) {
        this.hub(other).hub.federation?.linkDown(domain);
      }
    }
    await env.hub.close();
  }

  /** The hub comes back over `storage` (its own, or the same data reopened) and relinks. */
  async restart(domain: string, storage?: Storage): Promise<Env> {
    const env = this.hub(domain);
    if (storage !== undefined) env.storage = storage;
    env.hub = await this.open.get(domain)!(env.storage);
    this.down.delete(domain);
    for (const other of this.hubs.keys()) {
      if (other !== domain && !this.unlinked.has([domain, other].sort().join("|"))) {
        this.link(domain, other);
      }
    }
    return env;
  }

  links(from: string): PeerLinks {
    return {
      send: (to, bytes) => {
        const m = { from, to, bytes: bytes.slice() };
        this.queue.push(m);
        this.log.push(m);
      },
    };
  }

  hub(domain: string): Env {
    const e = this.hubs.get(domain);
    if (e === undefined) throw new Error(`no hub ${domain}`);
    return e;
  }

  /** Delivers messages and lets the shards work until nothing is in flight. */
  async settle(): Promise<void> {
    let quiet = 0;
    for (let round = 0; round < 500; round++) {
      for (const e of this.hubs.values()) await e.hub.shards.drain();
      await new Promise((r) => setTimeout(r, 0));
      if (this.queue.length === 0) {
        if (++quiet >= 3) return;
        continue;
      }
      quiet = 0;
      for (const m of this.queue.splice(0)) {
        const t = this.tamper === undefined ? m : this.tamper(m);
        if (t === undefined || this.down.has(t.to) || this.down.has(t.from)) continue;
        this.hub(t.to).hub.federation?.linkFrame(t.from, t.bytes);
      }
    }
    throw new Error("the network did not settle");
  }

  /** Settles until `done` holds (a hub on LMDB answers after its write is on disk). */
  async settleUntil(done: () => boolean): Promise<void> {
    await this.settle();
    for (let wait = 0; wait < 100 && !done(); wait++) {
      await new Promise((r) => setTimeout(r, 5));
      await this.settle();
    }
  }

  /** Both directions of the link between `a` and `b` go up (or down). */
  link(a: string, b: string, up = true): void {
    const fa = this.hub(a).hub.federation!;
    const fb = this.hub(b).hub.federation!;
    if (up) {
      fa.linkUp(b, this.signers.get(b)!.publicKey);
      fb.linkUp(a, this.signers.get(a)!.publicKey);
    } else {
      fa.linkDown(b);
      fb.linkDown(a);
    }
  }
}

/** Hubs `domains` (seeded keys), every pair configured as peers and linked. */
export async function federation(
  domains: string[],
  opts: {
    bans?: Record<string, BanPolicy>;
    authority?: Record<string, AuthorityHandler>;
    /** A hub's storage (default: a MemoryStorage). */
    storage?: Record<string, Storage>;
    /** Federation settings of every hub (ack quorum, failover delay; enlisting on by default). */
    setup?: Pick<FederationSetup, "ackQuorum" | "failoverAfterMs" | "enlistHubs">;
    /**
     * Onward relay: hub → peer → the peer it reaches it through. A pair routed either way
     * has no link of its own.
     */
    routes?: Record<string, Record<string, string>>;
    /**
     * Each hub's shards keep their own storage, as kalandrad's worker shards do (each its own
     * LMDB directory): a room this hub sequences grows there, the main storage holds replicas.
     */
    shardStorage?: boolean;
  } = {},
): Promise<Net> {
  const base = await makeEnv();
  const net = new Net();
  for (const [i, d] of domains.entries()) {
    net.signers.set(d, createDeviceSigner(i === 0 ? HUB_SEED : new Uint8Array(32).fill(i + 1)));
  }
  // Rooms name the first hub as their MLS external sender, so it can build removals.
  const first = net.signers.get(domains[0]!)!;
  const hubMls = { publicKey: first.publicKey, signKey: HUB_SEED };
  for (const domain of domains) {
    const hubSigner = net.signers.get(domain)!;
    const env = {
      cs: base.cs,
      hubMls,
      hubSigner,
      time: net.time,
      storage: opts.storage?.[domain] ?? new MemoryStorage(),
      out: [],
      limits: {},
    } as unknown as Env;
    env.sink = (target: Target, bytes: Uint8Array) => {
      env.out.push({ target, frame: Frame.fromWire(bytes), bytes });
    };
    const peers = domains
      .filter((d) => d !== domain)
      .map((d) => {
        const via = opts.routes?.[domain]?.[d];
        if (via !== undefined) net.unlinked.add([domain, d].sort().join("|"));
        return { domain: d, hubKey: net.signers.get(d)!.publicKey, ...(via ? { via } : {}) };
      });
    const groups = publicGroupViews(hubMls.publicKey);
    // Kept over restarts, as a worker shard's directory is.
    const shardStorage = opts.shardStorage ? new MemoryStorage() : undefined;
    if (shardStorage !== undefined) net.shardStorage.set(domain, shardStorage);
    const open = async (storage: Storage) => {
      let core: HubCore | undefined;
      const inbox = new WelcomeInbox(storage, net.time);
      // As kalandrad's worker sink (runtime/node/nodeHub.ts) and host (hub/hubHost.ts) route it.
      const toHub = inbox.capture(env.sink);
      const shardSink: Sink = (t, f) => {
        if (core?.federation?.staleShardOutput(t, f) === true) return;
        if (core?.intercept(t, f) !== true) toHub(t, f);
      };
      const shards =
        shardStorage === undefined
          ? undefined
          : new InProcessShards(
              1,
              {
                storage: shardStorage,
                clock: net.time,
                timers: net.time,
                hubSigner,
                sink: shardSink,
                groups,
                limits: DEFAULT_HUB_LIMITS,
                ...(opts.bans?.[domain] === undefined ? {} : { bans: opts.bans[domain] }),
                federation: {
                  domain,
                  writeRefusal: (roomId) => core?.federation?.writeRefusal(roomId),
                },
              },
              DEFAULT_HUB_LIMITS.maxBatch,
              shardModeration,
              true,
            );
      core = await HubCore.open({
        storage,
        clock: net.time,
        rng: seededRng(`hub-${domain}`),
        timers: net.time,
        hubSigner,
        sink: env.sink,
        groups,
        shardModeration,
        ...(shards === undefined ? {} : { shards, inbox }),
        ...(opts.bans?.[domain] === undefined ? {} : { bans: opts.bans[domain] }),
        federation: {
          peers: staticPeerPolicy({ domain, peers }),
          links: net.links(domain),
          ...(opts.authority?.[domain] === undefined ? {} : { authority: opts.authority[domain] }),
          enlistHubs: true,
          ...opts.setup,
        },
      });
      return core;
    };
    net.open.set(domain, open);
    env.hub = await open(env.storage);
    net.hubs.set(domain, env);
  }
  for (const a of domains) {
    for (const b of domains) if (a < b && !net.unlinked.has(`${a}|${b}`)) net.link(a, b);
  }
  return net;
}

/** Sends a client's frame to its home hub, runs the federation, returns the answer. */
export async function sendVia(net: Net, env: Env, c: Client, bytes: Uint8Array): Promise<Answer> {
  const requestId = FrameHeader.view(bytes).requestId;
  await env.hub.handleFrame(c.sessionId, c.senderId, bytes);
  await net.settleUntil(() => answerTo(env, c, requestId) !== undefined);
  const a = answerTo(env, c, requestId);
  if (a === undefined) throw new Error(`no answer to request ${requestId}`);
  return a;
}
