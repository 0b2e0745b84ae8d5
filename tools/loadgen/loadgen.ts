/**
 * Load generator: N real clients (KalandraClient over WebTransport, real MLS) in M rooms,
 * sending application messages (text envelopes) at a target aggregate rate. Latency is end
 * to end: from the moment the sender calls `send` (before encryption) to the moment each
 * member's client emits the decrypted message; every (message, member) pair is one sample.
 */

import { monitorEventLoopDelay, performance as perf } from "node:perf_hooks";
import {
  connectWebSocket,
  connectWebTransport,
  encodeEnvelope,
  getKalandraCiphersuiteImpl,
  type HubConnection,
  KalandraClient,
  MemoryStore,
  type WebTransportConnection,
} from "@kalandra/client";
import { Frame, Opcode, systemClock, systemRng, systemTimers } from "@kalandra/proto";
import { type BenchIssuer, tokenFor } from "./benchIssuer.js";

export interface LoadOptions {
  url: string;
  certHash?: Uint8Array;
  /** The clients' transport (default WebTransport at `url`); WebSocket at `websocketUrl`. */
  transport?: "webtransport" | "websocket";
  /** `ws://host:port/kalandra` of the hub's WebSocket listener. */
  websocketUrl?: string;
  /** Bound on each member's connection and handshake (the transport's default: 10 s). */
  connectTimeoutMs?: number;
  hubKey: Uint8Array;
  /** Rooms. */
  rooms: number;
  /** Members per room (clients = rooms × members; each client is in one room). */
  members: number;
  /** Target aggregate messages per second over all senders. */
  rate: number;
  /** Sending phase. */
  durationMs: number;
  /** Payload bytes per message. */
  messageBytes?: number;
  log?: (line: string) => void;
  /** Called once every room is ready, just before the sending phase (e.g. to read hub CPU). */
  beforeSend?: () => Promise<void>;
  /**
   * Worker threads for the clients (default 1: all in this thread). With more, each worker
   * owns whole rooms and its share of the rate, so a member's decrypt never waits behind
   * another worker's clients; latencies are measured inside the worker that owns the room.
   */
  workers?: number;
  /** First room number (user ids `u<room>-<member>` stay unique across workers). */
  roomOffset?: number;
  /**
   * Authenticate each device with an ID token from this issuer (the hub runs `auth.methods
   * = oidc`): users are then `u<room>-<member>@<domain>`. Absent: development mode.
   */
  oidc?: BenchIssuer;
}

/** One thread's raw measurements (merged across workers by `summarize`). */
export interface RawLoad {
  samples: number[];
  /** Per sample: [total, client seal + sign, hub and transport, receiver verify + decrypt]. */
  staged: [number, number, number, number][];
  sent: number;
  delivered: number;
  expected: number;
  sendPhaseS: number;
  elapsedS: number;
  setupS: number;
  cpuS: number;
  elu: number;
  eldP99Ms: number;
  eldMaxMs: number;
}

export interface LoadResult {
  msgs_per_s: number;
  deliveries_per_s: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  sent: number;
  delivered: number;
  expected_deliveries: number;
  members_per_room: number;
  rooms: number;
  connections: number;
  setup_s: number;
  /**
   * End-to-end latency split at the client transport: sender's seal + sign (send called →
   * frame handed to the transport), hub and transport (→ frame reaches the member's client:
   * both directions, session verify, sequencing, fsync, fan-out, and waiting for the load
   * generator's event loop), receiver's verify + decrypt (→ message emitted).
   */
  stages: {
    seal_sign: StageStats;
    hub_and_transport: StageStats;
    verify_decrypt: StageStats;
    slowest_1pct_mean_ms: {
      total: number;
      seal_sign: number;
      hub_and_transport: number;
      verify_decrypt: number;
    };
  };
  /** Threads running clients; event-loop figures are the worst thread's. */
  loadgen_threads: number;
  /** The load generator's own process during the sending phase (it shares the cores). */
  loadgen_cpu_pct: number;
  loadgen_event_loop_utilization: number;
  loadgen_event_loop_delay_p99_ms: number;
  loadgen_event_loop_delay_max_ms: number;
}

export interface StageStats {
  p50_ms: number;
  p99_ms: number;
}

export interface Member {
  userId: string;
  client: KalandraClient;
  conn: WebTransportConnection;
  /** Sees every received frame first; true = consumed, the client core never gets it. */
  tap?: (bytes: Uint8Array) => boolean;
  /** Ids of the messages this member was asked to send, in order. */
  sending: string[];
  /** When each message's APP_MESSAGE frame left the client (seal + sign done), by id. */
  written: Map<string, number>;
  /** When each APP_MESSAGE frame reached this member's client, before verify + decrypt. */
  arrived: number[];
}

const isAppMessage = (bytes: Uint8Array) => {
  try {
    return Frame.fromWire(bytes).header.opcode === Opcode.APP_MESSAGE;
  } catch {
    return false;
  }
};

/**
 * The transport as the client core sees it, noting when application frames leave and
 * arrive: the stage timestamps that split end-to-end latency into client seal + sign,
 * hub (both transport directions, verification, sequencing, fsync, fan-out) and the
 * receiving client's verify + decrypt.
 */
function timed(
  conn: WebTransportConnection,
  m: Pick<Member, "sending" | "written" | "arrived" | "tap">,
): HubConnection {
  return {
    send: (f) => {
      if (isAppMessage(f)) {
        const id = m.sending.shift();
        if (id !== undefined) m.written.set(id, performance.now());
      }
      conn.send(f);
    },
    onFrame: (cb) =>
      conn.onFrame((f) => {
        if (m.tap?.(f)) return;
        if (isAppMessage(f)) m.arrived.push(performance.now());
        cb(f);
      }),
    close: () => conn.close(),
  };
}

const utf8 = new TextEncoder();

/** A connection used only until the transport exists (the core needs one at open). */
const offline: HubConnection = {
  send: () => undefined,
  onFrame: () => undefined,
  close: () => undefined,
};

export async function openMember(
  o: LoadOptions,
  written: Map<string, number>,
  name: string,
  onMessage: (id: string | undefined, member: Member) => void,
): Promise<Member> {
  const userId = o.oidc === undefined ? name : `${name}@${o.oidc.domain}`;
  const token = o.oidc === undefined ? undefined : await tokenFor(o.oidc, name);
  const auth = token === undefined ? undefined : { method: "oidc", credential: utf8.encode(token) };
  const client = await KalandraClient.open({
    connection: offline,
    clock: systemClock,
    rng: systemRng,
    timers: systemTimers(),
    store: new MemoryStore(),
    hubPublicKey: o.hubKey,
    cs: getKalandraCiphersuiteImpl(systemRng),
    userId,
    keyPackageTarget: 2,
    ...(auth === undefined ? {} : { auth: () => auth }),
  });
  const link = {
    deviceSigner: client.signer,
    userId,
    hubPublicKey: o.hubKey,
    ...(o.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: o.connectTimeoutMs }),
    ...(auth === undefined ? {} : { auth: () => auth }),
  };
  const conn =
    o.transport === "websocket"
      ? await connectWebSocket({ ...link, url: o.websocketUrl ?? "" })
      : await connectWebTransport({ ...link, url: o.url, certHash: o.certHash });
  const member: Member = { userId, client, conn, sending: [], written, arrived: [] };
  conn.onReconnect(() => void client.connect().catch(() => undefined));
  client.on((e) => {
    if (e.type === "message")
      onMessage(e.envelope?.t === "text" ? e.envelope.body.slice(0, 24).trim() : undefined, member);
  });
  await client.reconnect(timed(conn, member));
  return member;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? 0;
}

const r2 = (x: number) => Math.round(x * 100) / 100;

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const workers = Math.max(1, Math.min(o.workers ?? 1, o.rooms));
  if (workers === 1) return summarize(o, [await runLoadRaw(o)]);
  const { runInWorkers } = await import("./workers.js");
  return summarize(o, await runInWorkers(o, workers));
}

/** The clients of `o.rooms` rooms in this thread. */
export async function runLoadRaw(o: LoadOptions): Promise<RawLoad> {
  const t0 = performance.now();
  const sentAt = new Map<string, number>();
  const written = new Map<string, number>();
  const samples: number[] = [];
  const staged: RawLoad["staged"] = [];
  let delivered = 0;
  let warmup: ((id: string | undefined) => void) | undefined;
  const onMessage = (id: string | undefined, member: Member) => {
    const now = performance.now();
    const arrived = member.arrived.shift();
    warmup?.(id);
    if (id === undefined) return;
    const at = sentAt.get(id);
    if (at === undefined) return;
    samples.push(now - at);
    const w = written.get(id);
    if (w !== undefined && arrived !== undefined)
      staged.push([now - at, w - at, arrived - w, now - arrived]);
    delivered++;
  };

  const rooms = await openRooms(o, written, onMessage);
  const setupS = (performance.now() - t0) / 1000;

  const senders = rooms.flatMap((room) => room.members.map((m) => ({ room, m })));
  const size = Math.max(24, o.messageBytes ?? 100);
  const intervalMs = 1000 / o.rate;
  const envelope = (id: string) =>
    // A text envelope as applications send it (docs/client.md "Envelope"): members decode
    // it on receipt; raw bytes would make every member's envelope decode throw.
    encodeEnvelope({
      t: "text",
      body: id.padEnd(size, "."),
      id: systemRng.bytes(16),
      sent_at: BigInt(Date.now()),
    });
  // Warm-up, not measured: every member sends once and waits for every echo. A sender's
  // first message creates its sender key, and the first frames through a code path may load
  // and compile modules; the measured phase is the steady state.
  let warmed = 0;
  const warmExpected = senders.length * o.members;
  const countWarm = (id: string | undefined) => {
    if (id?.startsWith("w")) warmed++;
  };
  warmup = countWarm;
  for (const [i, s] of senders.entries()) {
    s.m.sending.push(`w${i}`);
    void s.m.client.send(s.room.id, envelope(`w${i}`)).catch(() => undefined);
  }
  const warmDeadline = performance.now() + 30_000;
  while (warmed < warmExpected && performance.now() < warmDeadline)
    await new Promise((res) => setTimeout(res, 10));
  warmup = undefined;
  await o.beforeSend?.();
  const eld = monitorEventLoopDelay({ resolution: 5 });
  eld.enable();
  const elu0 = perf.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  let sent = 0;
  let next = start;
  const inFlight = new Set<Promise<unknown>>();
  while (performance.now() - start < o.durationMs) {
    const now = performance.now();
    if (now < next) {
      await new Promise((res) => setTimeout(res, Math.min(5, next - now)));
      continue;
    }
    next += intervalMs;
    const s = senders[sent % senders.length];
    if (!s) break;
    const id = `m${sent}`.padEnd(24, " ");
    const body = envelope(id);
    sentAt.set(id.trim(), performance.now());
    sent++;
    s.m.sending.push(id.trim());
    const p = s.m.client.send(s.room.id, body).catch(() => undefined);
    inFlight.add(p);
    p.finally(() => inFlight.delete(p));
    if (inFlight.size > 2000) await Promise.race(inFlight);
  }
  const sendPhaseS = (performance.now() - start) / 1000;
  // Every member, the sender included, decrypts each message (the sender reads its own echo).
  const expected = sent * o.members;
  const drainDeadline = performance.now() + 30_000;
  while (delivered < expected && performance.now() < drainDeadline)
    await new Promise((res) => setTimeout(res, 20));
  const elapsedS = (performance.now() - start) / 1000;
  eld.disable();
  const cpu = process.cpuUsage(cpu0);
  const elu = perf.eventLoopUtilization(elu0);
  for (const room of rooms) for (const m of room.members) m.client.close();
  return {
    samples,
    staged,
    sent,
    delivered,
    expected,
    sendPhaseS,
    elapsedS,
    setupS,
    cpuS: (cpu.user + cpu.system) / 1e6,
    elu: elu.utilization,
    eldP99Ms: eld.percentile(99) / 1e6,
    eldMaxMs: eld.max / 1e6,
  };
}

export interface OpenRoom {
  id: bigint;
  members: Member[];
}

/** `o.rooms` rooms of `o.members` clients each, every member at epoch 1 (added by one commit). */
export async function openRooms(
  o: LoadOptions,
  written: Map<string, number>,
  onMessage: (id: string | undefined, member: Member) => void,
): Promise<OpenRoom[]> {
  const log = o.log ?? (() => undefined);
  const rooms: OpenRoom[] = [];
  for (let r = 0; r < o.rooms; r++) {
    const members: Member[] = [];
    for (let m = 0; m < o.members; m++)
      members.push(await openMember(o, written, `u${r + (o.roomOffset ?? 0)}-${m}`, onMessage));
    const owner = members[0] as Member;
    const id = await owner.client.createRoom();
    const others = members.slice(1);
    await Promise.all(others.map((x) => x.client.expectWelcome(id)));
    if (others.length > 0)
      await owner.client.addMembers(
        id,
        others.map((x) => x.userId),
      );
    const deadline = Date.now() + 60_000;
    while (
      !members.every(
        (x) =>
          (x.client.room(id)?.phase.kind === "synchronized" && x.client.room(id)?.epoch === 1n) ||
          others.length === 0,
      )
    ) {
      if (Date.now() > deadline) throw new Error(`room ${r} did not converge`);
      await new Promise((res) => setTimeout(res, 10));
    }
    rooms.push({ id, members });
    log(`room ${r + 1}/${o.rooms} ready with ${o.members} members`);
  }
  return rooms;
}

/** Percentiles and rates over every thread's samples. */
export function summarize(o: LoadOptions, raws: readonly RawLoad[]): LoadResult {
  const samples = raws.flatMap((r) => r.samples).sort((a, b) => a - b);
  const staged = raws.flatMap((r) => r.staged);
  const sent = raws.reduce((t, r) => t + r.sent, 0);
  const delivered = raws.reduce((t, r) => t + r.delivered, 0);
  const expected = raws.reduce((t, r) => t + r.expected, 0);
  const sendPhaseS = Math.max(...raws.map((r) => r.sendPhaseS));
  const elapsedS = Math.max(...raws.map((r) => r.elapsedS));
  const setupS = Math.max(...raws.map((r) => r.setupS));
  const cpuS = raws.reduce((t, r) => t + r.cpuS, 0);
  const stage = (k: 1 | 2 | 3) => {
    const xs = staged.map((x) => x[k]).sort((a, b) => a - b);
    return { p50_ms: r2(percentile(xs, 50)), p99_ms: r2(percentile(xs, 99)) };
  };
  // Where the slowest 1 % of samples spent their time (mean per stage).
  const slow = [...staged].sort((a, b) => b[0] - a[0]).slice(0, Math.max(1, staged.length / 100));
  const mean = (k: number) => r2(slow.reduce((t, x) => t + (x[k] ?? 0), 0) / slow.length);
  return {
    msgs_per_s: r2(sent / Math.max(sendPhaseS, elapsedS)),
    deliveries_per_s: r2(delivered / elapsedS),
    p50_ms: r2(percentile(samples, 50)),
    p90_ms: r2(percentile(samples, 90)),
    p99_ms: r2(percentile(samples, 99)),
    max_ms: r2(samples[samples.length - 1] ?? 0),
    sent,
    delivered,
    expected_deliveries: expected,
    members_per_room: o.members,
    rooms: o.rooms,
    connections: o.rooms * o.members,
    setup_s: r2(setupS),
    stages: {
      seal_sign: stage(1),
      hub_and_transport: stage(2),
      verify_decrypt: stage(3),
      slowest_1pct_mean_ms: {
        total: mean(0),
        seal_sign: mean(1),
        hub_and_transport: mean(2),
        verify_decrypt: mean(3),
      },
    },
    loadgen_threads: raws.length,
    loadgen_cpu_pct: r2((cpuS / elapsedS) * 100),
    loadgen_event_loop_utilization: r2(Math.max(...raws.map((r) => r.elu))),
    loadgen_event_loop_delay_p99_ms: r2(Math.max(...raws.map((r) => r.eldP99Ms))),
    loadgen_event_loop_delay_max_ms: r2(Math.max(...raws.map((r) => r.eldMaxMs))),
  };
}
