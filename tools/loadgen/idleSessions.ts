/**
 * Authenticated idle sessions for the connection-scale bench (issue 15), as cheaply as the
 * client side allows: a WebSocket each, opened from one of several loopback source
 * addresses (127.0.0.x, so a hub's `max_connections_per_ip` is met the way many real
 * clients would meet it). Each session runs the real handshake (HELLO, AUTH_CHALLENGE,
 * AUTH_RESPONSE, AUTH_OK) with its own device key as its own user, then keeps only its
 * socket and one PING frame signed once, sent every `pingMs` like the client core's
 * keep-alive (the hub answers each with a PONG), or every AUTH_OK `ping_ms` when the hub
 * asks for a longer interval (the client core's negotiatedKeepalive); the key is dropped
 * after AUTH_OK. The hub's WebSocket ping frames (through fronts) are answered by ws.
 * A hub PING (the session silent past the hub's interval) goes unanswered: with `pingMs`
 * under `limits.keepalive_interval_ms` it never comes.
 *
 * Bounded: `count` sessions, `concurrency` handshakes in flight, `handshakeTimeoutMs` each,
 * none started after `deadline`.
 */
import { randomBytes } from "node:crypto";
import { monitorEventLoopDelay } from "node:perf_hooks";
import {
  type DeviceSigner,
  decodeErrorPayload,
  decodePayload,
  deriveSenderId,
  encodeFrame,
  encodePayload,
  FrameHeader,
  HEADER_SIZE,
  Opcode,
} from "@kalandra/proto";
import { ed25519KeySigner, ed25519PrivateKeyObject } from "@kalandra/proto/node";
import WebSocket from "ws";

export interface IdleSessionOptions {
  /** `ws://host:port/kalandra`. */
  url: string;
  count: number;
  /** Source addresses, used round-robin (e.g. 127.0.0.2 … 127.0.0.21). */
  addresses: readonly string[];
  /** User ids are `<userPrefix><i>`; several sessions per user when `sessionsPerUser` > 1. */
  userPrefix: string;
  sessionsPerUser?: number;
  /** Interval of each session's PING (0 = never). */
  pingMs: number;
  /** Handshakes in flight at once. */
  concurrency: number;
  handshakeTimeoutMs?: number;
  /** Wall-clock time (Date.now()) after which no new handshake starts: the open phase's bound. */
  deadline?: number;
  onProgress?: (opened: number) => void;
}

/** What became of the sessions asked for. */
export interface IdleSessionReport {
  opened: number;
  /** Refusals by error name (TOO_MANY_CONNECTIONS, ...), from the hub's ERROR frame. */
  refused: Record<string, number>;
  /** Sessions that failed without an ERROR (socket error, timeout). */
  failed: number;
  openS: number;
}

/** One open idle session: all that is kept of it. */
interface Idle {
  ws: WebSocket;
  ping: Uint8Array;
  /** When its next PING is due (performance.now()). */
  due: number;
  /** Its PING interval: `pingMs`, or the hub's longer `ping_ms`. */
  every: number;
}

/**
 * How this process kept its sessions alive (why PINGs could be late, issue 15): how late
 * each PING left against its due time, this event loop's delay, and how sessions it had
 * opened ended (WebSocket close code and reason, e.g. `1000 idle timeout` from the hub).
 */
export interface IdleHealth {
  open: number;
  pings: number;
  /** PINGs by lateness (ms past due when sent): ≤1000, ≤2000, ≤5000, ≤15000, more. */
  pingLateMs: Record<string, number>;
  pingLateMaxMs: number;
  /** Event-loop delay (ms) since the process started. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** Sessions closed after AUTH_OK, by `<code> <reason>`. */
  closed: Record<string, number>;
}

const LATE_BUCKETS = [1000, 2000, 5000, 15_000] as const;

export class IdleSessions {
  readonly #open = new Set<Idle>();
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #loop = monitorEventLoopDelay({ resolution: 20 });
  #pings = 0;
  readonly #late: Record<string, number> = {};
  #lateMax = 0;
  readonly #closed: Record<string, number> = {};

  constructor() {
    this.#loop.enable();
  }

  get size(): number {
    return this.#open.size;
  }

  /** Opens the sessions; resolves once each is authenticated, refused or failed. */
  async open(o: IdleSessionOptions): Promise<IdleSessionReport> {
    const started = performance.now();
    // Pinging starts now, not once all are open: an open phase longer than the hub's
    // idle timeout (150 s) would otherwise see the first sessions closed as silent.
    if (o.pingMs > 0 && this.#timer === undefined) this.#startPings(o.pingMs);
    const report: IdleSessionReport = { opened: 0, refused: {}, failed: 0, openS: 0 };
    let next = 0;
    const perUser = Math.max(1, o.sessionsPerUser ?? 1);
    const lane = async () => {
      while (next < o.count && (o.deadline === undefined || Date.now() < o.deadline)) {
        const i = next++;
        const from = o.addresses[i % o.addresses.length] ?? "127.0.0.1";
        const user = `${o.userPrefix}${Math.floor(i / perUser)}`;
        const r = await openOne(o, from, user);
        if (r.kind === "open") {
          // The first PING within one interval, spread so they do not arrive together.
          r.idle.every = Math.max(o.pingMs, r.idle.every);
          r.idle.due = performance.now() + Math.random() * r.idle.every;
          this.#open.add(r.idle);
          r.idle.ws.on("close", (code: number, reason: Buffer) => {
            this.#open.delete(r.idle);
            const why = `${code} ${reason.toString()}`;
            this.#closed[why] = (this.#closed[why] ?? 0) + 1;
          });
          report.opened++;
          if (report.opened % 1000 === 0) o.onProgress?.(report.opened);
        } else if (r.kind === "refused") report.refused[r.name] = (report.refused[r.name] ?? 0) + 1;
        else report.failed++;
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, o.concurrency) }, lane));
    report.openS = (performance.now() - started) / 1000;
    return report;
  }

  /** Spreads the PINGs over the interval: a slice of the sessions every second. */
  #startPings(pingMs: number): void {
    // Each session keeps its own due time. (Slots by position in the set drifted with every
    // closed session: one closing per tick kept later sessions from ever being pinged, and
    // the hub closed them as silent.)
    this.#timer = setInterval(
      () => {
        const now = performance.now();
        for (const s of this.#open) {
          if (s.due > now || s.ws.readyState !== WebSocket.OPEN) continue;
          s.ws.send(s.ping);
          this.#countPing(now - s.due);
          s.due = now + s.every;
        }
      },
      Math.min(1000, pingMs),
    );
    this.#timer.unref();
  }

  #countPing(lateMs: number): void {
    this.#pings++;
    const bucket = LATE_BUCKETS.find((b) => lateMs <= b);
    const key = bucket === undefined ? `>${LATE_BUCKETS.at(-1)}` : `<=${bucket}`;
    this.#late[key] = (this.#late[key] ?? 0) + 1;
    this.#lateMax = Math.max(this.#lateMax, lateMs);
  }

  /** What keeping the sessions alive looked like so far (IdleHealth). */
  health(): IdleHealth {
    return {
      open: this.#open.size,
      pings: this.#pings,
      pingLateMs: { ...this.#late },
      pingLateMaxMs: Math.round(this.#lateMax),
      loopDelayP99Ms: Math.round(this.#loop.percentile(99) / 1e6),
      loopDelayMaxMs: Math.round(this.#loop.max / 1e6),
      closed: { ...this.#closed },
    };
  }

  /** Closes every session (and waits, bounded, until the sockets are gone). */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#loop.disable();
    const closing = [...this.#open].map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.ws.readyState === WebSocket.CLOSED) return resolve();
          s.ws.once("close", () => resolve());
          s.ws.close(1000, "bench done");
        }),
    );
    const deadline = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
    await Promise.race([Promise.all(closing), deadline]);
    for (const s of this.#open) s.ws.terminate();
    this.#open.clear();
  }
}

type Opened =
  | { kind: "open"; idle: Idle }
  | { kind: "refused"; name: string }
  | { kind: "failed"; why: string };

function frame(
  signer: DeviceSigner,
  senderId: bigint,
  opcode: Opcode,
  requestId: number,
  payload: unknown,
) {
  return encodeFrame(
    {
      opcode,
      requestId,
      roomId: 0n,
      senderId,
      epoch: 0n,
      payload: encodePayload(opcode, payload as never),
    },
    signer,
  );
}

/** One session: connect from `from`, handshake as a new device of `user`, keep it idle. */
function openOne(o: IdleSessionOptions, from: string, user: string): Promise<Opened> {
  // From a random seed, never generateKeyPairSync: Node 20 deadlocks when a garbage
  // collection run while a key is exported to JWK destroys the KeyGenJob that made the key
  // (its destructor takes the key's mutex the export holds: gdb showed the load process
  // stuck in ~KeyGenJob under ExportJWKEdKey). The stuck process stopped pinging, and the
  // hub closed its sessions as silent (issue 15).
  const signer = ed25519KeySigner(ed25519PrivateKeyObject(randomBytes(32)));
  const devicePublicKey = signer.publicKey;
  const senderId = deriveSenderId(devicePublicKey);
  return new Promise<Opened>((resolve) => {
    let settled = false;
    const ws = new WebSocket(o.url, { localAddress: from, perMessageDeflate: false });
    const done = (r: Opened) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (r.kind !== "open") ws.terminate();
      else ws.removeAllListeners("message");
      resolve(r);
    };
    const timer = setTimeout(
      () => done({ kind: "failed", why: "handshake timeout" }),
      o.handshakeTimeoutMs ?? 30_000,
    );
    ws.on("error", (e) => done({ kind: "failed", why: e.message }));
    ws.on("close", () => done({ kind: "failed", why: "closed" }));
    ws.on("open", () =>
      ws.send(
        frame(signer, senderId, Opcode.HELLO, 1, {
          device_key: devicePublicKey,
          user_id: user,
          client: "kalandra-idle-bench",
        }),
      ),
    );
    ws.on("message", (data: Buffer) => {
      if (data.length < HEADER_SIZE) return done({ kind: "failed", why: "short frame" });
      const h = FrameHeader.view(data);
      const payload = data.subarray(HEADER_SIZE);
      if (h.opcode === Opcode.ERROR) {
        let name = "ERROR";
        try {
          name = decodeErrorPayload(payload).name;
        } catch {
          // keep the generic name
        }
        return done({ kind: "refused", name });
      }
      if (h.opcode === Opcode.AUTH_CHALLENGE) {
        const { nonce } = decodePayload(Opcode.AUTH_CHALLENGE, payload);
        ws.send(frame(signer, senderId, Opcode.AUTH_RESPONSE, 2, { nonce }));
      } else if (h.opcode === Opcode.AUTH_OK) {
        const { ping_ms } = decodePayload(Opcode.AUTH_OK, payload);
        // done() drops the message listener: PONGs from here on are read and discarded.
        done({
          kind: "open",
          idle: {
            ws,
            ping: frame(signer, senderId, Opcode.PING, 3, { nonce: 3 }),
            due: 0,
            every: ping_ms ?? 0,
          },
        });
      }
    });
  });
}
