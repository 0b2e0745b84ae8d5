/**
 * A lean load over already-open links (issue 15, `pnpm bench scale` section e2e): signed
 * APP_MESSAGE frames prepared before the timed phase, sent at a target aggregate rate, and
 * every copy that comes back counted by its request id. The load generator's work per
 * delivery is one header read, so on a 2-core machine the figure is the hub's (or the bare
 * fan-out server's), not the clients' MLS: `pnpm bench e2e` measures that path with real
 * clients.
 *
 * One message = one request id `REQUEST_ID_BASE + n` (n counts every message of a run),
 * so a delivery needs no map: the sender's copy is the hub's ACK (or the bare server's
 * echo), the others' copies are the fanned-out frame; each is one latency sample.
 */
import { readFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { type DeviceSigner, encodeFrame, encodePayload, Opcode } from "@kalandra/proto";
import { percentile } from "./loadgen.js";

/** Request ids of lean frames: far from the client core's counter and its handshake range. */
export const REQUEST_ID_BASE = 0x4000_0000;
const REQUEST_ID_END = 0x8000_0000;
/** Opcode bytes and request id inside the 128-byte header (DESIGN §3, proto header.ts). */
const OPCODE_OFFSET = 6;
const REQUEST_ID_OFFSET = 8;

/** One member's way to the server: frames out, every frame it receives in. */
export interface Link {
  send(frame: Uint8Array): void;
  /** Replaces the receiver (one at a time). */
  onFrame(cb: (frame: Uint8Array) => void): void;
  close(): void;
}

export interface LeanMember {
  link: Link;
  senderId: bigint;
  signer?: DeviceSigner;
}

export interface LeanRoom {
  roomId: bigint;
  epoch: bigint;
  members: LeanMember[];
}

export interface StepResult {
  rate: number;
  msgs_per_s: number;
  deliveries_per_s: number;
  sent: number;
  delivered: number;
  expected: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  loadgen_cpu_pct: number;
  loadgen_event_loop_delay_p99_ms: number;
  /** The server process's CPU (all threads) over the step, when `serverCpuS` was given. */
  server_cpu_pct?: number;
  server_cpu_us_per_delivery?: number;
  /** Of which the server's main thread (sessions, socket reads and writes, fan-out). */
  server_main_thread_cpu_us_per_delivery?: number;
  ok: boolean;
}

export interface StepOptions {
  durationMs: number;
  ciphertextBytes: number;
  drainMs?: number;
  /** Server process id: its CPU (procCpuSeconds) is reported per delivery. */
  serverPid?: number;
  /** More processes of the server (its WebSocket fronts): their CPU counts as the server's. */
  serverHelperPids?: () => number[];
}

/**
 * CPU seconds (user + system) a Linux process has used, all threads (/proc/<pid>/stat), or
 * one thread's (`tid`; the main thread's id is the process id).
 */
export function procCpuSeconds(pid: number, tid?: number): number {
  const path = tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`;
  const stat = readFileSync(path, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks (USER_HZ = 100).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The request id of the frame in `bytes`, or -1 when it is not one of a lean run's. */
export function leanIndex(bytes: Uint8Array): number {
  if (bytes.length < 128) return -1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, 16);
  const opcode = view.getUint16(OPCODE_OFFSET);
  if (opcode !== Opcode.APP_MESSAGE && opcode !== Opcode.ACK) return -1;
  const id = view.getUint32(REQUEST_ID_OFFSET);
  return id >= REQUEST_ID_BASE && id < REQUEST_ID_END ? id - REQUEST_ID_BASE : -1;
}

/** Signed APP_MESSAGE frames for messages `first..first+count-1`, round robin over senders. */
export function prepareFrames(
  rooms: readonly LeanRoom[],
  first: number,
  count: number,
  ciphertextBytes: number,
): { frames: Uint8Array[]; senders: LeanMember[]; rooms: LeanRoom[] } {
  const all = rooms.flatMap((room) => room.members.map((m) => ({ room, m })));
  const frames: Uint8Array[] = [];
  const senders: LeanMember[] = [];
  const roomOf: LeanRoom[] = [];
  const ciphertext = new Uint8Array(ciphertextBytes).fill(0x5a);
  for (let i = 0; i < count; i++) {
    const n = first + i;
    const s = all[n % all.length];
    if (s === undefined) break;
    frames.push(
      encodeFrame(
        {
          opcode: Opcode.APP_MESSAGE,
          requestId: REQUEST_ID_BASE + n,
          roomId: s.room.roomId,
          senderId: s.m.senderId,
          epoch: s.room.epoch,
          payload: encodePayload(Opcode.APP_MESSAGE, { generation: n, ciphertext }),
        },
        s.m.signer,
      ),
    );
    senders.push(s.m);
    roomOf.push(s.room);
  }
  return { frames, senders, rooms: roomOf };
}

/**
 * One step: `rate` msg/s for `durationMs` (frames signed beforehand, not timed), then up to
 * `drainMs` for the last copies. `first` is the index of the step's first message (ids stay
 * unique over a run: the hub remembers every (sender, request id) it answered).
 */
export async function runStep(
  rooms: readonly LeanRoom[],
  o: StepOptions & { rate: number; first: number },
): Promise<StepResult> {
  const count = Math.max(1, Math.round((o.rate * o.durationMs) / 1000));
  const {
    frames,
    senders,
    rooms: roomOf,
  } = prepareFrames(rooms, o.first, count, o.ciphertextBytes);
  const sentAt = new Float64Array(frames.length);
  const copies = new Uint16Array(frames.length);
  const samples: number[] = [];
  let delivered = 0;
  const receive = (bytes: Uint8Array) => {
    const i = leanIndex(bytes) - o.first;
    if (i < 0 || i >= frames.length || copies[i] === undefined) return;
    const at = sentAt[i] as number;
    if (at === 0) return;
    copies[i] = (copies[i] as number) + 1;
    samples.push(performance.now() - at);
    delivered++;
  };
  for (const room of rooms) for (const m of room.members) m.link.onFrame(receive);
  const expected = roomOf.reduce((t, r) => t + r.members.length, 0);
  const eld = monitorEventLoopDelay({ resolution: 5 });
  eld.enable();
  const cpu0 = process.cpuUsage();
  const pid = o.serverPid;
  const helpers = o.serverHelperPids?.() ?? [];
  const serverCpu = (p: number) =>
    helpers.reduce((t, h) => t + procCpuSeconds(h), procCpuSeconds(p));
  const server0 = pid === undefined ? 0 : serverCpu(pid);
  const main0 = pid === undefined ? 0 : procCpuSeconds(pid, pid);
  const intervalMs = 1000 / o.rate;
  const start = performance.now();
  let sent = 0;
  while (sent < frames.length) {
    const now = performance.now();
    const due = Math.min(frames.length, Math.floor((now - start) / intervalMs) + 1);
    for (; sent < due; sent++) {
      sentAt[sent] = performance.now();
      (senders[sent] as LeanMember).link.send(frames[sent] as Uint8Array);
    }
    if (sent < frames.length) await new Promise((r) => setTimeout(r, 1));
  }
  const sendPhaseS = (performance.now() - start) / 1000;
  const drainUntil = performance.now() + (o.drainMs ?? 10_000);
  while (delivered < expected && performance.now() < drainUntil)
    await new Promise((r) => setTimeout(r, 5));
  const elapsedS = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const serverS = pid === undefined ? undefined : serverCpu(pid) - server0;
  const mainS = pid === undefined ? 0 : procCpuSeconds(pid, pid) - main0;
  eld.disable();
  samples.sort((a, b) => a - b);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  const msgsPerS = sent / Math.max(sendPhaseS, 1e-3);
  const p99 = percentile(samples, 99);
  return {
    rate: o.rate,
    msgs_per_s: r2(msgsPerS),
    deliveries_per_s: r2(delivered / elapsedS),
    sent,
    delivered,
    expected,
    p50_ms: r2(percentile(samples, 50)),
    p99_ms: r2(p99),
    max_ms: r2(samples[samples.length - 1] ?? 0),
    loadgen_cpu_pct: r2(((cpu.user + cpu.system) / 1e6 / elapsedS) * 100),
    loadgen_event_loop_delay_p99_ms: r2(eld.percentile(99) / 1e6),
    ...(serverS === undefined
      ? {}
      : {
          server_cpu_pct: r2((serverS / elapsedS) * 100),
          server_cpu_us_per_delivery: r2((serverS / Math.max(1, delivered)) * 1e6),
          server_main_thread_cpu_us_per_delivery: r2((mainS / Math.max(1, delivered)) * 1e6),
        }),
    ok: delivered === expected && p99 < 100 && msgsPerS >= o.rate * 0.9,
  };
}

/**
 * Steps the rate up until a step misses (every copy delivered, p99 < 100 ms, ≥ 90 % of
 * the rate achieved); a missed step runs once more, once per search. Returns every step
 * and the best passing one.
 */
export async function searchPeak(
  rooms: readonly LeanRoom[],
  o: StepOptions & {
    rates: readonly number[];
    first?: number;
    log?: (s: string) => void;
  },
): Promise<{ best: StepResult | undefined; steps: StepResult[]; next: number }> {
  const steps: StepResult[] = [];
  let best: StepResult | undefined;
  let first = o.first ?? 0;
  let retried = false;
  for (let i = 0; i < o.rates.length; i++) {
    const rate = o.rates[i] as number;
    const r = await runStep(rooms, { ...o, rate, first });
    first += r.sent;
    steps.push(r);
    o.log?.(`rate ${rate}: ${JSON.stringify(r)}`);
    if (r.ok) best = r;
    else if (!retried) {
      retried = true;
      i--;
    } else break;
  }
  return { best, steps, next: first };
}
