/**
 * `pnpm bench federation` (issue 18): two kalandrad processes on loopback federating,
 * `a.example` and `b.example`, each pinning the other's hub key (docs/federation.md).
 *
 * - `lag_ms_p50/p99`: a room on A with a member whose home is B; one message at a time,
 *   from the sender's `send` call on A to the decrypted message at the member on B (A
 *   sequences, sends it over the hub link, B fans it out). `single_hub_lag_ms_*`: the same
 *   run's baseline, both members on A, measured the same way.
 * - `baseline_lag_ms_p50/p99`: the load generator's single-hub figure on A (two members,
 *   20 messages/s over WebTransport), as `pnpm bench e2e` measures.
 * - `link_up_ms_p50/p99`: hub B SIGKILLed and restarted on its data directory, from B
 *   ready to A's link to B up again (A dials: redial backoff 100 ms … 1 s here, handshake,
 *   both keys proved), over `rounds` kills.
 * - `link_rtt_ms`: the link's keepalive round trip as A's metric reports it.
 * - `transfer_ms_p50/p99`: planned transfer under load. A room with alice@a.example and
 *   bob@b.example, both sending one message after another the whole time; the operator
 *   moves it to the other hub (`POST /admin/rooms/transfer`, what `kalandrad admin rooms
 *   transfer` calls) and back, `transfer_rounds` times. Each round: from the admin call
 *   (the proposal) to the first acknowledgement a member receives after the call was
 *   answered (the answer comes once the new authority installed the room and said so, so
 *   every acknowledgement after it is the new authority's): an upper bound of "proposal →
 *   first write accepted by the new authority", client retry delay included.
 *   `transfer_answer_ms_p99`: the admin call alone. `transfer_acked`/`transfer_seen`:
 *   messages acknowledged in the run and how many of them both members decrypted.
 *
 * Not measured yet, reported as null with the reason in `not_measured`: `failover_ms_p99`,
 * `acked_lost` (failover is not in the federation core yet).
 * BENCH_QUICK=1: 20 messages, two kill rounds, a two-second baseline, two transfers.
 */
import { join } from "node:path";
import {
  connectWebSocket,
  getKalandraCiphersuiteImpl,
  KalandraClient,
  MemoryStore,
} from "@kalandra/client";
import { systemClock, systemRng, systemTimers } from "@kalandra/proto";
import { freePort, type TempDir, tempDir, writeHubKey } from "@kalandra/test-support";
import { type SpawnedHub, spawnHub } from "../loadgen/hub.js";
import { percentile, runLoad } from "../loadgen/loadgen.js";

const quick = process.env.BENCH_QUICK === "1";
const log = (s: string) => process.stderr.write(`[federation] ${s}\n`);
const rounds = quick ? 2 : 10;
const transferRounds = quick ? 2 : 10;
const ADMIN_TOKEN = "bench-federation";

interface Spec {
  domain: string;
  dir: TempDir;
  keyPath: string;
  hubKey: string;
  wsPort: number;
}

async function spec(domain: string): Promise<Spec> {
  const dir = tempDir(`bench-fed-${domain}`);
  const keyPath = join(dir.path, "hub-key.pem");
  return { domain, dir, keyPath, hubKey: writeHubKey(keyPath), wsPort: await freePort() };
}

function start(s: Spec, peer: Spec): Promise<SpawnedHub> {
  return spawnHub(join(s.dir.path, "data"), {
    KALANDRA_SERVER__LOG_LEVEL: "info", // startKalandrad reads the "kalandrad ready" line
    KALANDRA_SERVER__DOMAIN: s.domain,
    KALANDRA_SERVER__HUB_KEY: s.keyPath,
    KALANDRA_SERVER__WEBSOCKET_LISTEN: `127.0.0.1:${s.wsPort}`,
    KALANDRA_SERVER__SHARDS: "1",
    // The transfer reads the room from the hub's own storage: shards in-process share it.
    KALANDRA_SERVER__SHARD_RUNTIME: "in-process",
    KALANDRA_MONITORING__ADMIN_TOKEN: ADMIN_TOKEN,
    KALANDRA_DATABASE__SYNC: "full",
    KALANDRA_FEDERATION__ENABLED: "true",
    KALANDRA_FEDERATION__RECONNECT_MIN_MS: "100",
    KALANDRA_FEDERATION__RECONNECT_MAX_MS: "1000",
    KALANDRA_FEDERATION__PEERS: JSON.stringify([
      { domain: peer.domain, url: `ws://127.0.0.1:${peer.wsPort}/kalandra`, hub_key: peer.hubKey },
    ]),
  });
}

async function metric(hub: SpawnedHub, line: RegExp): Promise<number | undefined> {
  const text = await (
    await fetch(`http://127.0.0.1:${hub.monitoringPort}/metrics`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    })
  ).text();
  const m = text.split("\n").find((l) => line.test(l));
  return m === undefined ? undefined : Number(m.split(" ").at(-1));
}

/** Polls A's link state to B (every 5 ms, bounded); resolves with ms waited. */
async function linkUp(hub: SpawnedHub, peer: string, timeoutMs = 30_000): Promise<number> {
  const t0 = performance.now();
  const up = new RegExp(
    `^kalandra_federation_link_up\\{peer="${peer.replaceAll(".", "\\.")}"\\} 1$`,
  );
  while (performance.now() - t0 < timeoutMs) {
    if ((await metric(hub, up)) === 1) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`link to ${peer} not up within ${timeoutMs} ms`);
}

/** A client core of `userId` connected to `hub` over WebSocket, counting the messages it decrypts. */
async function member(userId: string, hub: SpawnedHub) {
  const client = await KalandraClient.open({
    connection: { send: () => undefined, onFrame: () => undefined, close: () => undefined },
    clock: systemClock,
    rng: systemRng,
    timers: systemTimers(),
    store: new MemoryStore(),
    hubPublicKey: hub.hubKey,
    cs: getKalandraCiphersuiteImpl(systemRng),
    userId,
    keyPackageTarget: 3,
    requestPolicy: { retryMs: 300, maxAttempts: 200, routingRetries: 100 },
  });
  const conn = await connectWebSocket({
    url: hub.websocket,
    deviceSigner: client.signer,
    userId,
    hubPublicKey: hub.hubKey,
  });
  const arrived = new Map<string, number>();
  /** Arrival times of acknowledgements (sends through `send`). */
  const acks: number[] = [];
  const td = new TextDecoder();
  client.on((e) => {
    if (e.type === "message") arrived.set(td.decode(e.plaintext), performance.now());
  });
  await client.reconnect(conn);
  const close = () => {
    client.close();
    conn.close();
  };
  const send = async (room: bigint, body: string) => {
    await client.send(room, new TextEncoder().encode(body));
    acks.push(performance.now());
  };
  return { client, arrived, acks, send, close };
}

type Member = Awaited<ReturnType<typeof member>>;

/** `userId`'s room with `others` added, once each of them processed its Welcome. */
async function roomWith(creator: Member, others: { m: Member; id: string }[]): Promise<bigint> {
  const room = await creator.client.createRoom();
  const welcomed = others.map((o) => o.m.client.expectWelcome(room));
  await creator.client.addMembers(
    room,
    others.map((o) => o.id),
  );
  await Promise.all(welcomed);
  const joinedBy = performance.now() + 30_000;
  while (others.some((o) => o.m.client.room(room)?.epoch !== 1n)) {
    if (performance.now() > joinedBy) throw new Error("a member did not join in 30 s");
    await new Promise((res) => setTimeout(res, 5));
  }
  return room;
}

async function admin(hub: SpawnedHub, path: string, body: unknown) {
  const r = await fetch(`http://127.0.0.1:${hub.monitoringPort}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "x-kalandra-operator": "bench" },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

/**
 * Planned transfers under load (see the header): the room moves A → B → A … while both
 * members send; returns per-round figures and what was acknowledged and seen.
 */
async function transfers(hubs: Record<string, SpawnedHub>, n: number) {
  const alice = await member("erin@a.example", hubs["a.example"] as SpawnedHub);
  const bob = await member("frank@b.example", hubs["b.example"] as SpawnedHub);
  try {
    const room = await roomWith(alice, [{ m: bob, id: "frank@b.example" }]);
    let running = true;
    let sent = 0;
    const loops = [alice, bob].map(async (m, k) => {
      for (let i = 0; running && i < 100_000; i++) {
        await m.send(room, `t${k}-${i}`);
        sent++;
      }
    });
    const answerMs: number[] = [];
    const firstWriteMs: number[] = [];
    let authority = "a.example";
    for (let i = 0; i < n; i++) {
      await new Promise((r) => setTimeout(r, 300)); // load at the current authority
      const to = authority === "a.example" ? "b.example" : "a.example";
      const t0 = performance.now();
      const r = await admin(hubs[authority] as SpawnedHub, "/admin/rooms/transfer", {
        room: room.toString(),
        to,
      });
      const answered = performance.now();
      if (r.status !== 200) throw new Error(`transfer ${i + 1} refused: ${JSON.stringify(r.body)}`);
      const deadline = answered + 30_000;
      let first: number | undefined;
      while (first === undefined && performance.now() < deadline) {
        first = [...alice.acks, ...bob.acks].find((t) => t >= answered);
        if (first === undefined) await new Promise((res) => setTimeout(res, 2));
      }
      if (first === undefined) throw new Error(`no write accepted by ${to} within 30 s`);
      answerMs.push(answered - t0);
      firstWriteMs.push(first - t0);
      log(
        `transfer ${i + 1} ${authority} → ${to}: answered ${(answered - t0).toFixed(1)} ms, first write at the new authority ${(first - t0).toFixed(1)} ms`,
      );
      authority = to;
    }
    running = false;
    await Promise.all(loops);
    const bodies = (m: Member) => [...m.arrived.keys()].filter((b) => b.startsWith("t"));
    const seenBy = (m: Member) => new Set(bodies(m));
    const [sa, sb] = [seenBy(alice), seenBy(bob)];
    const settleBy = performance.now() + 30_000;
    while ((sa.size < sent || sb.size < sent) && performance.now() < settleBy) {
      await new Promise((res) => setTimeout(res, 20));
      for (const x of bodies(alice)) sa.add(x);
      for (const x of bodies(bob)) sb.add(x);
    }
    const seen = [...sa].filter((x) => sb.has(x)).length;
    return {
      answerMs: answerMs.sort((x, y) => x - y),
      firstWriteMs: firstWriteMs.sort((x, y) => x - y),
      acked: sent,
      seen,
    };
  } finally {
    alice.close();
    bob.close();
  }
}

/**
 * Sender on `from`, receiver (`receiverId`, home `to`) added to the sender's room; `n`
 * messages one after another: send called → decrypted by the receiver, ms, sorted.
 */
async function lag(
  from: SpawnedHub,
  senderId: string,
  to: SpawnedHub,
  receiverId: string,
  n: number,
): Promise<number[]> {
  const s = await member(senderId, from);
  const r = await member(receiverId, to);
  try {
    // The receiver has processed its Welcome (epoch 1) before the first message is timed.
    const room = await roomWith(s, [{ m: r, id: receiverId }]);
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const body = `m${i}`;
      const t0 = performance.now();
      await s.client.send(room, new TextEncoder().encode(body));
      const until = t0 + 10_000;
      while (!r.arrived.has(body) && performance.now() < until) {
        await new Promise((res) => setImmediate(res));
      }
      const t1 = r.arrived.get(body);
      if (t1 === undefined) throw new Error(`${body} not delivered to ${receiverId} within 10 s`);
      out.push(t1 - t0);
    }
    return out.sort((x, y) => x - y);
  } finally {
    s.close();
    r.close();
  }
}

const [a, b] = [await spec("a.example"), await spec("b.example")];
let hubB = await start(b, a);
const hubA = await start(a, b);
try {
  await linkUp(hubA, b.domain);
  log("link a.example → b.example up");
  const n = quick ? 20 : 300;
  const same = await lag(hubA, "carol@a.example", hubA, "dave@a.example", n);
  log(
    `same hub: p50 ${percentile(same, 50).toFixed(2)} ms p99 ${percentile(same, 99).toFixed(2)} ms`,
  );
  const cross = await lag(hubA, "alice@a.example", hubB, "bob@b.example", n);
  log(
    `across hubs: p50 ${percentile(cross, 50).toFixed(2)} ms p99 ${percentile(cross, 99).toFixed(2)} ms`,
  );

  const baseline = await runLoad({
    url: hubA.url,
    certHash: hubA.certHash,
    hubKey: hubA.hubKey,
    rooms: 1,
    members: 2,
    rate: 20,
    durationMs: quick ? 2000 : 8000,
    log,
  });
  log(`single-hub baseline p50 ${baseline.p50_ms} ms p99 ${baseline.p99_ms} ms`);

  const upMs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    hubB.child.kill("SIGKILL");
    await hubB.exit;
    hubB = await start(b, a);
    upMs.push(await linkUp(hubA, b.domain));
    log(`round ${i + 1}: link up ${upMs.at(-1)?.toFixed(1)} ms after b was ready`);
  }
  upMs.sort((x, y) => x - y);
  await linkUp(hubA, b.domain);
  const moved = await transfers({ "a.example": hubA, "b.example": hubB }, transferRounds);
  // The keepalive runs every 5 s: wait for one round trip on the last link.
  const rttDeadline = performance.now() + (quick ? 0 : 6000);
  let rtt = await metric(hubA, /^kalandra_federation_link_rtt_seconds\{peer="b\.example"\}/);
  while (rtt === undefined && performance.now() < rttDeadline) {
    await new Promise((r) => setTimeout(r, 100));
    rtt = await metric(hubA, /^kalandra_federation_link_rtt_seconds\{peer="b\.example"\}/);
  }
  const round = (x: number) => Math.round(x * 10) / 10;
  console.log(
    JSON.stringify({
      hubs: 2,
      baseline_lag_ms_p50: baseline.p50_ms,
      baseline_lag_ms_p99: baseline.p99_ms,
      baseline_delivered: baseline.delivered,
      baseline_expected: baseline.expected_deliveries,
      link_up_rounds: rounds,
      link_up_ms_p50: round(percentile(upMs, 50)),
      link_up_ms_p99: round(percentile(upMs, 99)),
      link_rtt_ms: rtt === undefined ? null : round(rtt * 1000),
      lag_messages: n,
      lag_ms_p50: round(percentile(cross, 50)),
      lag_ms_p99: round(percentile(cross, 99)),
      single_hub_lag_ms_p50: round(percentile(same, 50)),
      single_hub_lag_ms_p99: round(percentile(same, 99)),
      transfer_rounds: transferRounds,
      transfer_ms_p50: round(percentile(moved.firstWriteMs, 50)),
      transfer_ms_p99: round(percentile(moved.firstWriteMs, 99)),
      transfer_answer_ms_p99: round(percentile(moved.answerMs, 99)),
      transfer_acked: moved.acked,
      transfer_seen: moved.seen,
      failover_ms_p99: null,
      acked_lost: null,
      not_measured: ["failover_ms_p99, acked_lost: failover is not in the federation core yet"],
    }),
  );
} finally {
  await hubA.stop();
  await hubB.stop();
  a.dir.cleanup();
  b.dir.cleanup();
}
