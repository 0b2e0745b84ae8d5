/**
 * Load generator: N real clients (KalandraClient over WebTransport, real MLS) in M rooms,
 * sending application messages at a target aggregate rate. Latency is end to end: from
 * the moment the sender calls `send` (before encryption) to the moment each member's
 * client emits the decrypted message; every (message, member) pair is one sample.
 */
import {
  connectWebTransport,
  getKalandraCiphersuiteImpl,
  type HubConnection,
  KalandraClient,
  MemoryStore,
  type WebTransportConnection,
} from "@kalandra/client";
import { systemClock, systemRng, systemTimers } from "@kalandra/proto";

export interface LoadOptions {
  url: string;
  certHash?: Uint8Array;
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
}

interface Member {
  userId: string;
  client: KalandraClient;
  conn: WebTransportConnection;
}

/** A connection used only until the transport exists (the core needs one at open). */
const offline: HubConnection = {
  send: () => undefined,
  onFrame: () => undefined,
  close: () => undefined,
};

async function openMember(
  o: LoadOptions,
  userId: string,
  onMessage: (plain: Uint8Array) => void,
): Promise<Member> {
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
  });
  const conn = await connectWebTransport({
    url: o.url,
    certHash: o.certHash,
    deviceSigner: client.device.signer,
    userId,
    hubPublicKey: o.hubKey,
  });
  conn.onReconnect(() => void client.connect().catch(() => undefined));
  client.on((e) => {
    if (e.type === "message") onMessage(e.plaintext);
  });
  await client.reconnect(conn);
  return { userId, client, conn };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? 0;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const log = o.log ?? (() => undefined);
  const t0 = performance.now();
  const sentAt = new Map<string, number>();
  const samples: number[] = [];
  let delivered = 0;
  const td = new TextDecoder();
  const onMessage = (plain: Uint8Array) => {
    const id = td.decode(plain.subarray(0, 24)).trim();
    const at = sentAt.get(id);
    if (at === undefined) return;
    samples.push(performance.now() - at);
    delivered++;
  };

  const rooms: { id: bigint; members: Member[] }[] = [];
  for (let r = 0; r < o.rooms; r++) {
    const members: Member[] = [];
    for (let m = 0; m < o.members; m++) members.push(await openMember(o, `u${r}-${m}`, onMessage));
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
  const setupS = (performance.now() - t0) / 1000;

  const senders = rooms.flatMap((room) => room.members.map((m) => ({ room, m })));
  const size = Math.max(24, o.messageBytes ?? 100);
  const intervalMs = 1000 / o.rate;
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
    const body = new Uint8Array(size);
    body.set(new TextEncoder().encode(id));
    sentAt.set(id.trim(), performance.now());
    sent++;
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
  samples.sort((a, b) => a - b);
  for (const room of rooms) for (const m of room.members) m.client.close();
  const r2 = (x: number) => Math.round(x * 100) / 100;
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
  };
}
