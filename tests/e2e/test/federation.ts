/**
 * Federating kalandrad processes on loopback for the end-to-end suites (issue 18): each hub
 * a child process with its own data directory, hub key (made before start, so peers pin it),
 * WebSocket and monitoring ports; every hub lists every other as a peer. Users connect to
 * their home hub; `Member` records what its client core received (log index → text) and
 * what the hub acknowledged (`sent`), so a test can check the issue's invariants: every
 * acknowledged frame present, the same order on every hub.
 *
 * `E2E_HUB_LOG=/tmp/hubs.log` keeps the hubs' logs (each line prefixed by its domain).
 */
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { connectWebSocket, type KalandraClient, type WebSocketConnection } from "@kalandra/client";
import {
  decodePayload,
  encodeFrame,
  encodePayload,
  FrameHeader,
  HEADER_SIZE,
  Opcode,
} from "@kalandra/proto";
import {
  freePort,
  type Kalandrad,
  startKalandrad,
  tempDir,
  waitUntil,
  writeHubKey,
} from "@kalandra/test-support";
import { afterAll } from "vitest";
import { BIN, openClient } from "./kalandrad.js";

export const ADMIN_TOKEN = "e2e-federation-admin";

export interface HubSpec {
  domain: string;
  dataDir: string;
  keyPath: string;
  hubKey: string;
  port: number;
  wsPort: number;
  monPort: number;
}

export interface Member {
  readonly id: string;
  readonly hub: string;
  client: KalandraClient;
  conn: WebSocketConnection;
  /** Messages received (own ones echoed included): log index → text. */
  readonly received: Map<bigint, string>;
  /** Acknowledged sends: text → the log index the authority gave it. */
  readonly sent: Map<string, bigint>;
  /** When each acknowledgement arrived (performance.now()), in arrival order. */
  readonly acks: { at: number; index: bigint }[];
  /** `error` events of the client core (a transfer must cause none). */
  readonly errors: Error[];
  /** Log indexes of the messages the client core was told are redacted (REDACTION). */
  readonly redacted: Set<bigint>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface FederationOptions {
  /** More KALANDRA_* keys for every hub (ack_quorum, failover_after_ms...). */
  env?: Record<string, string>;
  /** Every hub requires its links to all the others for /readyz. */
  requirePeers?: boolean;
  /** More `[[federation.peers]]` entries for every hub (a peer the test plays itself). */
  extraPeers?: { domain: string; url: string; hub_key: string }[];
  /**
   * Onward relay: hub → peer → the peer it is reached through (configured `via`, no url).
   * Route both ways: a routed pair never links.
   */
  routes?: Record<string, Record<string, string>>;
}

export class Federation {
  readonly specs = new Map<string, HubSpec>();
  readonly hubs = new Map<string, Kalandrad>();
  readonly members: Member[] = [];

  private constructor(
    private readonly root: string,
    private readonly o: FederationOptions,
  ) {}

  static async create(
    root: string,
    domains: readonly string[],
    o: FederationOptions = {},
  ): Promise<Federation> {
    const f = new Federation(root, o);
    for (const domain of domains) {
      const dir = join(root, domain);
      mkdirSync(dir, { recursive: true });
      const keyPath = join(dir, "hub-key.pem");
      f.specs.set(domain, {
        domain,
        dataDir: join(dir, "data"),
        keyPath,
        hubKey: writeHubKey(keyPath),
        port: await freePort(),
        wsPort: await freePort(),
        monPort: await freePort(),
      });
    }
    return f;
  }

  spec(domain: string): HubSpec {
    const s = this.specs.get(domain);
    if (s === undefined) throw new Error(`no hub ${domain}`);
    return s;
  }

  hub(domain: string): Kalandrad {
    const h = this.hubs.get(domain);
    if (h === undefined) throw new Error(`hub ${domain} is not running`);
    return h;
  }

  /** Starts (or restarts, on its data directory) the hub of `domain`. */
  async start(domain: string): Promise<Kalandrad> {
    const s = this.spec(domain);
    const peers = [...this.specs.values()].filter((p) => p.domain !== domain);
    const log = process.env.E2E_HUB_LOG;
    const hub = await startKalandrad({
      bin: BIN,
      dataDir: s.dataDir,
      listen: `127.0.0.1:${s.port}`,
      websocketListen: `127.0.0.1:${s.wsPort}`,
      monitoringListen: `127.0.0.1:${s.monPort}`,
      env: {
        KALANDRA_SERVER__DOMAIN: domain,
        KALANDRA_SERVER__HUB_KEY: s.keyPath,
        KALANDRA_SERVER__SHARDS: "1",
        KALANDRA_SERVER__LOG_LEVEL: log ? "debug" : "info",
        KALANDRA_MONITORING__ADMIN_TOKEN: ADMIN_TOKEN,
        KALANDRA_FEDERATION__ENABLED: "true",
        KALANDRA_FEDERATION__RECONNECT_MIN_MS: "100",
        KALANDRA_FEDERATION__RECONNECT_MAX_MS: "500",
        KALANDRA_FEDERATION__KEEPALIVE_MS: "500",
        KALANDRA_FEDERATION__PEERS: JSON.stringify([
          ...peers.map((p) => {
            const via = this.o.routes?.[domain]?.[p.domain];
            const where = via ?? `ws://127.0.0.1:${p.wsPort}/kalandra`;
            return { domain: p.domain, [via ? "via" : "url"]: where, hub_key: p.hubKey };
          }),
          ...(this.o.extraPeers ?? []),
        ]),
        ...(this.o.requirePeers
          ? {
              KALANDRA_MONITORING__REQUIRED_PEERS: peers
                .filter((p) => this.o.routes?.[domain]?.[p.domain] === undefined)
                .map((p) => p.domain)
                .join(","),
            }
          : {}),
        ...this.o.env,
      },
      ...(log
        ? {
            onStdout: (d: string) => appendFileSync(log, d.replace(/^(?=.)/gm, `[${domain}] `)),
          }
        : {}),
    });
    this.hubs.set(domain, hub);
    return hub;
  }

  /** Starts every hub (the last domain first) and waits until every pair is linked. */
  async startAll(): Promise<void> {
    for (const d of [...this.specs.keys()].reverse()) await this.start(d);
    for (let i = 0; i < 600; i++) {
      if (await this.linked()) return;
      await sleep(50);
    }
    throw new Error("the hubs did not link within 30 s");
  }

  /** SIGKILL: no drain, no flush beyond what the hub made durable. */
  async kill(domain: string): Promise<void> {
    const h = this.hub(domain);
    h.child.kill("SIGKILL");
    await h.exit;
    this.hubs.delete(domain);
  }

  /** Whether every linked pair of running hubs has its link up (each hub's metrics). */
  async linked(): Promise<boolean> {
    for (const [domain] of this.hubs) {
      const text = await this.metrics(domain);
      for (const peer of this.hubs.keys()) {
        if (peer === domain || this.o.routes?.[domain]?.[peer] !== undefined) continue;
        const up = new RegExp(
          `kalandra_federation_link_up\\{peer="${peer.replace(/\./g, "\\.")}"\\} 1`,
        );
        if (!up.test(text)) return false;
      }
    }
    return true;
  }

  /** `/readyz` of `domain`: status, failing checks, the peer_links check's reason. */
  async readyz(domain: string): Promise<{ status: number; failing?: string[]; reason?: string }> {
    const r = await fetch(`http://127.0.0.1:${this.spec(domain).monPort}/readyz`);
    const body = (await r.json()) as {
      failing?: string[];
      checks: Record<string, { reason?: string }>;
    };
    return { status: r.status, failing: body.failing, reason: body.checks.peer_links?.reason };
  }

  /** Polls `domain`'s /readyz (real time, bounded) until it answers `status`. */
  async readyzUntil(domain: string, status: number, what: string): Promise<void> {
    let last: unknown;
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      last = await this.readyz(domain);
      if ((last as { status: number }).status === status) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(
      `${what}: /readyz of ${domain} never answered ${status}; last ${JSON.stringify(last)}`,
    );
  }

  async metrics(domain: string): Promise<string> {
    const r = await fetch(`http://127.0.0.1:${this.spec(domain).monPort}/metrics`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    return r.text();
  }

  /** An admin API call on `domain`'s monitoring listener. */
  async admin(
    domain: string,
    method: "GET" | "POST",
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const r = await fetch(`http://127.0.0.1:${this.spec(domain).monPort}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "x-kalandra-operator": "e2e" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  }

  /** A client core for `id` (`name@domain`) connected to its home hub. */
  async member(id: string): Promise<Member> {
    const domain = id.slice(id.indexOf("@") + 1);
    const hub = this.hub(domain);
    const client = await openClient(id, hub.hubKey, {
      requestPolicy: { retryMs: 300, maxAttempts: 400, routingRetries: 100 },
    });
    const conn = await connectWebSocket({
      url: hub.websocket,
      deviceSigner: client.signer,
      userId: id,
      hubPublicKey: hub.hubKey,
    });
    const m: Member = {
      id,
      hub: domain,
      client,
      conn,
      received: new Map(),
      sent: new Map(),
      acks: [],
      errors: [],
      redacted: new Set(),
    };
    client.on((e) => {
      if (e.type === "message") m.received.set(e.logIndex, dec.decode(e.plaintext));
      if (e.type === "error") m.errors.push(e.error);
      if (e.type === "redaction") m.redacted.add(e.logIndex);
    });
    await client.reconnect(conn);
    this.members.push(m);
    return m;
  }

  /** Sends `text` from `m` and records the acknowledged log index. */
  async send(m: Member, roomId: bigint, text: string): Promise<bigint> {
    const index = await m.client.send(roomId, enc.encode(text));
    m.sent.set(text, index);
    m.acks.push({ at: performance.now(), index });
    return index;
  }

  /**
   * `creator` makes a room and adds `others` (homed anywhere); resolves once every member
   * is synchronized at epoch 1 or later (the authority's enlisting of the members' hubs as
   * external senders, docs/federation.md "Kicks across hubs", may have moved it on already).
   */
  async room(creator: Member, others: readonly Member[], until: Until): Promise<bigint> {
    const room = await creator.client.createRoom();
    const welcomed = others.map((o) => o.client.expectWelcome(room));
    await creator.client.addMembers(
      room,
      others.map((o) => o.id),
    );
    await Promise.all(welcomed);
    await until(
      () =>
        [creator, ...others].every(
          (m) =>
            m.client.room(room)?.phase.kind === "synchronized" &&
            (m.client.room(room)?.epoch ?? 0n) >= 1n,
        ),
      "every member synchronized at epoch 1 or later",
    );
    return room;
  }

  /**
   * alice@a.example, bob@b.example and carol@c.example connected to their hubs, and
   * alice's room with the other two (every member synchronized at epoch 1).
   */
  async threeMemberRoom(): Promise<{ members: [Member, Member, Member]; room: bigint }> {
    const alice = await this.member("alice@a.example");
    const bob = await this.member("bob@b.example");
    const carol = await this.member("carol@c.example");
    const room = await this.room(alice, [bob, carol], until);
    return { members: [alice, bob, carol], room };
  }

  /**
   * An operator moves the room from `from` to `to` (`POST /admin/rooms/transfer`) while
   * `members` keep sending; resolves with the new term once each has 3 more acknowledged.
   */
  async moveUnderLoad(members: readonly Member[], roomId: string, from: string, to: string) {
    const before = members.map((m) => m.sent.size);
    const moved = await this.admin(from, "POST", "/admin/rooms/transfer", { room: roomId, to });
    if (moved.status !== 200 || moved.body.ok !== true || moved.body.to !== to) {
      throw new Error(`the move to ${to} failed: ${JSON.stringify(moved)}`);
    }
    await until(
      () => members.every((m, i) => m.sent.size >= (before[i] ?? 0) + 3),
      `3 more acknowledged each after the move to ${to}`,
    );
    return moved.body.term as string;
  }

  /** The room's authority and term as every hub of `domains` names them (one, or throws). */
  async agreedAuthority(
    domains: readonly string[],
    roomId: string,
  ): Promise<{ authority: string; term: string }> {
    const views = await Promise.all(
      domains.map((d) => this.admin(d, "GET", `/admin/rooms/${roomId}/authority`)),
    );
    const seen = views.map((v) => `${v.body.authority} in term ${v.body.term}`);
    if (new Set(seen).size !== 1) throw new Error(`the hubs disagree: ${seen.join(" / ")}`);
    const { authority, term } = views[0]?.body ?? {};
    return { authority: String(authority), term: String(term) };
  }

  /**
   * The federation records in `domain`'s audit chain, one line each (votes,
   * proposals, certificates, term starts), for the report of a failed run.
   */
  async federationTrail(domain: string): Promise<string[]> {
    const r = await this.admin(domain, "GET", "/admin/audit?limit=1000");
    const records = (r.body.records ?? []) as {
      kind: string;
      at: string | number;
      room_id?: string;
      roomId?: string;
      detail?: Record<string, unknown>;
    }[];
    return records
      .filter((x) => x.kind.startsWith("federation_") && x.kind !== "federation_attribution")
      .map((x) => {
        const { record: _r, ...detail } = x.detail ?? {};
        return `${domain} ${x.at} ${x.kind} ${JSON.stringify(detail)}`;
      });
  }

  /**
   * What each running hub of `domains` shows of the room when a run stalls: its authority
   * view, federation refusals and held frames (metrics), and its federation audit records.
   */
  async stallReport(domains: readonly string[], roomId: string): Promise<string> {
    const out: string[] = [];
    for (const d of domains) {
      const h = this.hubs.get(d);
      if (h === undefined || h.child.exitCode !== null || h.child.signalCode !== null) continue;
      const view = await this.admin(d, "GET", `/admin/rooms/${roomId}/authority`);
      out.push(`${d} authority ${JSON.stringify(view.body)}`);
      for (const line of (await this.metrics(d)).split("\n")) {
        if (
          /^kalandra_federation_(core_refusals|frames_refused|term_frames_held|rooms)/.test(line)
        ) {
          out.push(`${d} ${line}`);
        }
      }
      out.push(...(await this.federationTrail(d)));
    }
    for (const m of this.members) {
      out.push(
        `${m.id} sent ${m.sent.size} received ${m.received.size} errors ${m.errors.map(String)}`,
      );
    }
    return out.join("\n");
  }

  /** Closes every member and SIGTERMs every hub still running. */
  async close(): Promise<void> {
    for (const m of this.members.splice(0)) {
      m.client.close();
      m.conn.close();
    }
    for (const h of this.hubs.values()) {
      if (h.child.exitCode === null && h.child.signalCode === null) {
        h.child.kill("SIGTERM");
        await h.exit;
      }
    }
    this.hubs.clear();
  }

  /** The root directory (tests put more files there). */
  get dir(): string {
    return this.root;
  }
}

/**
 * Load: every member sends one message after another (each waits for its acknowledgement)
 * until `stop()`; `stop` resolves once every loop ended. Bounded by `max` per member.
 */
export function load(
  f: Federation,
  members: readonly Member[],
  roomId: bigint,
  tag: string,
  max = 10_000,
): { stop(): Promise<void>; failures: Error[] } {
  let running = true;
  const failures: Error[] = [];
  const loops = members.map(async (m) => {
    for (let i = 0; running && i < max; i++) {
      try {
        await f.send(m, roomId, `${tag} ${m.id} #${i}`);
      } catch (e) {
        failures.push(e as Error);
        return;
      }
    }
  });
  return {
    failures,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** One entry of the room's log as a hub serves it (SYNC_PAGE); payload null = erased. */
export interface ServedEntry {
  index: bigint;
  opcode: number;
  payload: Uint8Array | null;
}

let rawRequestId = 0x7100_0000;

/**
 * The room's log from `from` on as `m`'s home hub serves it: a SYNC_REQUEST signed by m's
 * device, sent on its connection beside its client core (which ignores an answer to a
 * request id it did not send). A hub that does not sequence the room answers from its
 * replica, so this reads what each hub holds.
 */
export async function servedLog(m: Member, roomId: bigint, from = 0n): Promise<ServedEntry[]> {
  const requestId = rawRequestId++;
  const answer = new Promise<Uint8Array>((resolve) =>
    m.conn.onFrame((bytes) => {
      if (FrameHeader.view(bytes).requestId === requestId) resolve(bytes);
    }),
  );
  m.conn.send(
    encodeFrame(
      {
        opcode: Opcode.SYNC_REQUEST,
        requestId,
        roomId,
        senderId: m.client.senderId,
        epoch: m.client.room(roomId)?.epoch ?? 0n,
        payload: encodePayload(Opcode.SYNC_REQUEST, { from, limit: 500 }),
      },
      m.client.signer,
    ),
  );
  const bytes = await Promise.race([answer, sleep(10_000).then(() => undefined)]);
  if (bytes === undefined) throw new Error(`${m.hub} did not answer a SYNC_REQUEST in 10 s`);
  const h = FrameHeader.view(bytes);
  if (h.opcode !== Opcode.SYNC_PAGE) {
    const e = decodePayload(Opcode.ERROR, bytes.subarray(HEADER_SIZE));
    throw new Error(`${m.hub} refused the SYNC_REQUEST: ${e.name} ${e.message}`);
  }
  return decodePayload(Opcode.SYNC_PAGE, bytes.subarray(HEADER_SIZE)).entries.map((e) => {
    const eh = FrameHeader.view(e.header);
    return { index: eh.logIndex, opcode: eh.opcode, payload: e.payload };
  });
}

export type Until = (pred: () => boolean, what: string) => Promise<void>;

/** Waits on real time (bounded: 60 s) until `pred` holds. */
export const until: Until = (pred, what) =>
  waitUntil(pred, what, { timeoutMs: 60_000, intervalMs: 20 });

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A federation for one test file, in a temp directory: `create` makes it, and after the
 * file's tests its members are closed, its hubs stopped and the directory removed.
 */
export function federationForFile(label: string): {
  create(domains: readonly string[], o?: FederationOptions): Promise<Federation>;
} {
  const tmp = tempDir(label);
  let fed: Federation | undefined;
  afterAll(async () => {
    await fed?.close();
    tmp.cleanup();
  });
  return {
    async create(domains, o = {}) {
      fed = await Federation.create(tmp.path, domains, o);
      return fed;
    },
  };
}

/**
 * a, b and c on kalandrad's default worker shards, `"majority"`, failover after 1 s, synced
 * to disk, and alice's room with bob and carol: the failover tests' world.
 */
export async function workerFailoverRoom(federation: ReturnType<typeof federationForFile>) {
  const f = await federation.create(["a.example", "b.example", "c.example"], {
    env: {
      KALANDRA_SERVER__SHARDS: "0",
      KALANDRA_DATABASE__SYNC: "full",
      KALANDRA_FEDERATION__ACK_QUORUM: "majority",
      KALANDRA_FEDERATION__FAILOVER_AFTER_MS: "1000",
    },
  });
  await f.startAll();
  const { members, room } = await f.threeMemberRoom();
  return { f, members, room, roomId: room.toString() };
}

/** Acknowledged sends of `members` missing at their log index from any of `survivors`. */
export function lostAcknowledged(
  members: readonly Member[],
  survivors: readonly Member[],
): string[] {
  const out: string[] = [];
  for (const m of members) {
    for (const [text, index] of m.sent) {
      for (const s of survivors)
        if (s.received.get(index) !== text) out.push(`${text}@${index} on ${s.id}`);
    }
  }
  return out;
}

/**
 * After a failover: waits (bounded) until every survivor received every send of `members`
 * that was acknowledged, then returns what breaks the invariants (empty: nothing
 * acknowledged lost, one order on the survivors, no client error there).
 */
export async function survivorProblems(
  members: readonly Member[],
  survivors: readonly Member[],
): Promise<string[]> {
  const acked = new Set(members.flatMap((m) => [...m.sent.values()]));
  await until(
    () => survivors.every((m) => [...acked].every((i) => m.received.has(i))),
    `all ${acked.size} acknowledged messages on ${survivors.map((m) => m.id).join(", ")}`,
  );
  return [
    ...lostAcknowledged(members, survivors),
    ...orderProblems(survivors),
    ...survivors.flatMap((m) => m.errors.map((e) => `${m.id}: ${String(e)}`)),
  ];
}

/**
 * The invariants over what the members saw: every acknowledged send is present at
 * its log index on every member, and members agree on every index they share (one order
 * everywhere). Returns the problems (empty = holds).
 */
export function orderProblems(members: readonly Member[]): string[] {
  const problems: string[] = [];
  const byIndex = new Map<bigint, string>();
  for (const m of members) {
    for (const [i, t] of m.received) {
      const other = byIndex.get(i);
      if (other === undefined) byIndex.set(i, t);
      else if (other !== t) problems.push(`index ${i}: "${other}" vs "${t}" (${m.id})`);
    }
  }
  for (const m of members) {
    for (const [text, index] of m.sent) {
      for (const r of members) {
        if (r.received.get(index) !== text) {
          problems.push(
            `${r.id} lacks acknowledged "${text}" at ${index} (has "${r.received.get(index)}")`,
          );
        }
      }
    }
  }
  return problems;
}
