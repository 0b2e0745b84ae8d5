/**
 * The WebSocket listener as socket front processes (`server.websocket_fronts = N`, issue 15):
 * one process cannot hold 100,000 sockets under a hard `ulimit -n` of 20,000, so the
 * primary (this process) accepts each connection on the WebSocket port and passes its
 * socket to the least-loaded of N forked fronts (wsFront.ts), which hold the sockets, speak
 * TLS and WebSocket, and move whole messages over IPC (frontProtocol.ts). Each connection
 * is a `Session` here as with the in-process listener (wsTransport.ts): handshake,
 * admission, caps, strikes and metrics unchanged; the connection gate sees the source
 * address the front reports, and decides here, for every front at once. The keep-alive is
 * the front's (WebSocket ping frames, websocket/transportKeepalive.ts): a session here
 * runs no keep-alive timer and is closed as idle when its front reports it silent; its
 * client's PINGs are answered by the front (websocket/frontPings.ts: the fronts get the
 * hub key, and this process's heartbeat, so that a hung primary still goes unanswered).
 *
 * The primary keeps no socket per session (the accepted one is closed once it is passed).
 * A front that exits: its sessions end here ("front exited") and it is restarted; the
 * other fronts keep serving.
 */
import { type ChildProcess, fork } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import { HEADER_SIZE, ProtocolError } from "@kalandra/proto";
import { PRE_AUTH_MAX_PAYLOAD } from "../../session/handshake.js";
import { openSession, peerHost, refuseConnection } from "./connectionGate.js";
import type { Session } from "./session.js";
import { MAX_QUEUED_BYTES, type RuntimeLimits } from "./transport.js";
import { vouchMs } from "./websocket/frontPings.js";
import {
  F,
  type FromFront,
  type FrontControl,
  type FrontSettings,
  type Op,
  Outbox,
  P,
  type ToFront,
} from "./websocket/frontProtocol.js";
import { CLOSE_TRY_AGAIN, MESSAGE_MARGIN } from "./websocket/messages.js";
import { FrontSessionIo } from "./wsFrontSession.js";
import { type WebSocketListenerOptions, WS_PATH } from "./wsTransport.js";

const EXT = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
/** First wait before restarting a front that exited; doubled while fronts die young. */
const RESTART_MS = 250;
const RESTART_MAX_MS = 10_000;

export interface WebSocketFrontsOptions extends Omit<WebSocketListenerOptions, "http"> {
  fronts: number;
  /** The web app (`web.static_dir`): each front builds its handler from these. */
  webApp?: FrontSettings["webApp"];
  /** Bytes queued to one client before its session is closed as too slow (tests; default MAX_QUEUED_BYTES). */
  maxQueuedBytes?: number;
}

/** One front process and the sessions whose sockets it holds. */
export interface FrontSlot {
  index: number;
  child: ChildProcess | undefined;
  ready: boolean;
  /** Sessions by the front's connection id. */
  sessions: Map<number, Session>;
  /** Sockets passed since the front's last batch (counted for balancing until it reports them). */
  handedOff: number;
  outbox: Outbox;
  startedAt: number;
  restartMs: number;
}

export class WebSocketFronts {
  private server: Server | undefined;
  private readonly slots: FrontSlot[] = [];
  private accepting = true;
  private closing = false;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  /** The hub key as the fronts get it (PKCS #8 DER), exported once. */
  private pongKey: Uint8Array | undefined;

  constructor(private readonly o: WebSocketFrontsOptions) {}

  async start(): Promise<{ port: number; secure: boolean }> {
    const secure = this.o.tls !== undefined;
    const ready: Promise<void>[] = [];
    for (let i = 0; i < Math.max(1, this.o.fronts); i++) {
      const slot: FrontSlot = {
        index: i,
        child: undefined,
        ready: false,
        sessions: new Map(),
        handedOff: 0,
        outbox: new Outbox((b) => this.sendBatch(slot, b)),
        startedAt: 0,
        restartMs: RESTART_MS,
      };
      this.slots.push(slot);
      ready.push(this.spawn(slot));
    }
    await Promise.all(ready);
    this.startHeartbeat();
    const server = createServer({ pauseOnConnect: true, noDelay: true }, (s) => this.handOff(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.o.port, this.o.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const addr = server.address();
    const port = typeof addr === "object" && addr !== null ? addr.port : this.o.port;
    this.o.log?.info(
      { host: this.o.host, port, secure, fronts: this.slots.length },
      "websocket listening (front processes)",
    );
    return { port, secure };
  }

  /** Open sessions over every front. */
  get size(): number {
    let n = 0;
    for (const s of this.slots) n += s.sessions.size;
    return n;
  }

  /** Process ids of the fronts running now (memory figures, tests). */
  get pids(): number[] {
    return this.slots.flatMap((s) => (s.child?.pid === undefined ? [] : [s.child.pid]));
  }

  /** Sessions whose sockets front `index` holds. */
  sessionsOn(index: number): number {
    return this.slots[index]?.sessions.size ?? 0;
  }

  reconfigure(limits: RuntimeLimits): void {
    this.o.limits = limits;
    this.startHeartbeat();
    for (const slot of this.slots) {
      for (const session of slot.sessions.values()) session.reconfigure(limits);
      this.control(slot, { t: "settings", settings: this.settings() });
    }
  }

  updateCertificate(cert: string, key: string): void {
    if (this.o.tls === undefined) return;
    this.o.tls = { cert, key };
    for (const slot of this.slots) this.control(slot, { t: "settings", settings: this.settings() });
  }

  stopAccepting(): void {
    this.accepting = false;
  }

  /**
   * Closes every session, lets the fronts write what is queued (at most `timeoutMs`) and
   * stop, and closes the port.
   */
  async close(timeoutMs = 5000): Promise<void> {
    this.accepting = false;
    this.closing = true;
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    // Stops listening now. Its callback is not awaited: node waits there for every front
    // that was passed a socket to report its copies closed, and a front that exited never
    // answers (node 20 child_process socket lists).
    this.server?.close();
    for (const slot of this.slots) {
      for (const session of [...slot.sessions.values()]) session.close("hub shutting down");
      slot.outbox.flush();
    }
    await Promise.all(
      this.slots.map((slot) => {
        const child = slot.child;
        if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
          return Promise.resolve();
        }
        return new Promise<void>((resolve) => {
          const kill = setTimeout(() => child.kill("SIGKILL"), timeoutMs + 1000);
          child.once("exit", () => {
            clearTimeout(kill);
            resolve();
          });
          this.control(slot, { t: "stop", graceMs: timeoutMs });
        });
      }),
    );
  }

  /**
   * While the heartbeat comes (three per `vouchMs`), fronts answer PINGs; a primary too
   * busy or hung to send it is not vouched for (websocket/frontPings.ts).
   */
  private startHeartbeat(): void {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    if (this.closing) return;
    this.heartbeat = setInterval(
      () => {
        for (const slot of this.slots) this.control(slot, { t: "alive" });
      },
      Math.floor(vouchMs(this.o.limits.clientPingIntervalMs) / 3),
    );
    this.heartbeat.unref();
  }

  private settings(): FrontSettings {
    this.pongKey ??= new Uint8Array(
      this.o.hubKey.privateKey.export({ format: "der", type: "pkcs8" }),
    );
    return {
      pongKey: this.pongKey,
      vouchMs: vouchMs(this.o.limits.clientPingIntervalMs),
      path: WS_PATH,
      ...(this.o.tls === undefined ? {} : { tls: this.o.tls }),
      preAuthCap: HEADER_SIZE + PRE_AUTH_MAX_PAYLOAD + MESSAGE_MARGIN,
      cap: HEADER_SIZE + this.o.limits.maxPayloadBytes + MESSAGE_MARGIN,
      maxQueuedBytes: this.o.maxQueuedBytes ?? MAX_QUEUED_BYTES,
      keepalive: {
        intervalMs: this.o.limits.keepaliveIntervalMs,
        timeoutMs: this.o.limits.idleTimeoutMs,
      },
      ...(this.o.webApp === undefined ? {} : { webApp: this.o.webApp }),
    };
  }

  private control(slot: FrontSlot, m: FrontControl, handle?: Socket): boolean {
    const child = slot.child;
    if (child === undefined || !child.connected) return false;
    try {
      child.send(m, handle as never);
      return true;
    } catch {
      return false;
    }
  }

  private sendBatch(slot: FrontSlot, b: { frames: Uint8Array[]; ops: Op[] }): void {
    const batch: ToFront = { t: "batch", ...b };
    const child = slot.child;
    if (child?.connected) child.send(batch);
  }

  /** Forks front `slot.index`; resolves once it can take connections. */
  private spawn(slot: FrontSlot): Promise<void> {
    const entry = new URL(`./wsFront${EXT}`, import.meta.url);
    // From sources, a plain-JS bootstrap registers tsx first (wsFrontBoot.mjs).
    const main = EXT === ".ts" ? new URL("./wsFrontBoot.mjs", import.meta.url) : entry;
    const child = fork(main, [], {
      serialization: "advanced",
      execArgv: [],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: { ...process.env, KALANDRA_WS_FRONT: "1", KALANDRA_WS_FRONT_ENTRY: entry.href },
    });
    slot.child = child;
    slot.ready = false;
    slot.handedOff = 0;
    slot.startedAt = Date.now();
    const ready = new Promise<void>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`websocket front exited with ${code}`)));
      child.on("message", (m: FromFront) => {
        if (m.t === "ready") {
          slot.ready = true;
          this.o.log?.info({ front: slot.index, pid: child.pid }, "websocket front ready");
          resolve();
        } else if (m.t === "batch" && slot.child === child) {
          // (A batch a front sent just before it exited is dropped with its sessions.)
          this.receiveOrStop(slot, child, m.ops);
        }
      });
    });
    // A failed fork or signal: the exit event (when the process ran) does the rest.
    child.on("error", (e) =>
      this.o.log?.error({ front: slot.index, err: e.message }, "websocket front error"),
    );
    child.on("exit", (code, signal) => this.frontExited(slot, child, code, signal));
    this.control(slot, { t: "settings", settings: this.settings() });
    return ready;
  }

  private frontExited(
    slot: FrontSlot,
    child: ChildProcess,
    code: number | null,
    signal: string | null,
  ): void {
    if (slot.child !== child) return;
    slot.child = undefined;
    slot.ready = false;
    const ended = slot.sessions.size;
    for (const session of [...slot.sessions.values()]) session.close("front exited");
    slot.sessions.clear();
    slot.outbox.flush(); // the closes have no socket left to go to
    if (this.closing) return;
    this.o.metrics?.websocketFrontExits.inc();
    this.o.log?.error(
      { front: slot.index, code, signal, sessions: ended },
      "websocket front exited; its sessions ended, restarting it",
    );
    const young = Date.now() - slot.startedAt < 2000;
    slot.restartMs = young ? Math.min(RESTART_MAX_MS, slot.restartMs * 2) : RESTART_MS;
    setTimeout(() => {
      if (!this.closing) this.spawn(slot).catch(() => undefined);
    }, slot.restartMs).unref();
  }

  /** A connection accepted here goes to the ready front with the fewest sessions. */
  private handOff(socket: Socket): void {
    let best: FrontSlot | undefined;
    for (const s of this.slots) {
      if (!s.ready) continue;
      if (best === undefined || load(s) < load(best)) best = s;
    }
    if (best === undefined || !this.control(best, { t: "conn" }, socket)) {
      socket.destroy();
      return;
    }
    best.handedOff++;
  }

  /**
   * A batch this primary cannot read means a front of another build or a broken one: it is
   * stopped (and restarted) rather than let an exception take the hub down.
   */
  private receiveOrStop(slot: FrontSlot, child: ChildProcess, ops: Op[]): void {
    try {
      this.receive(slot, ops);
    } catch (e) {
      this.o.log?.error(
        { front: slot.index, err: e instanceof Error ? e.message : String(e) },
        "websocket front sent what the hub cannot read; stopping it",
      );
      child.kill("SIGKILL");
    }
  }

  /** One batch from a front, in order. */
  private receive(slot: FrontSlot, ops: Op[]): void {
    // The front reports in order: what it adopted has been reported by now or soon will be.
    slot.handedOff = 0;
    for (let i = 0; i < ops.length; ) {
      const op = ops[i] as number;
      const conn = ops[i + 1] as number;
      if (op === F.OPEN) {
        this.open(slot, conn, ops[i + 2] as string);
        i += 3;
        continue;
      }
      const session = slot.sessions.get(conn);
      if (op === F.MESSAGE) {
        session?.onMessage(ops[i + 2] as Uint8Array);
        i += 3;
      } else if (op === F.TEXT) {
        session?.onWireError(
          new ProtocolError("BAD_PAYLOAD", "text message: frames travel as binary messages"),
        );
        i += 2;
      } else if (op === F.SLOW) {
        if (session) {
          this.o.log?.warn({ session: session.id, queued: ops[i + 2] }, "client too slow; closing");
          session.close("client too slow");
        }
        i += 3;
      } else if (op === F.SILENT) {
        session?.silent(ops[i + 2] as number);
        i += 3;
      } else if (op === F.PONGED) {
        this.o.metrics?.websocketFrontPongs.inc(conn); // [PONGED, count]
        i += 2;
      } else if (op === F.CLOSED) {
        session?.close("transport closed");
        i += 2;
      } else {
        throw new Error(`websocket front ${slot.index}: unknown operation ${op}`);
      }
    }
  }

  private open(slot: FrontSlot, conn: number, address: string): void {
    const peer = peerHost(address);
    const out = slot.outbox;
    const refusal = refuseConnection(this.o, this.accepting, peer);
    if (refusal !== undefined) {
      out.push(P.SEND, conn, out.frame(refusal), P.CLOSE, conn, CLOSE_TRY_AGAIN, "refused");
      return;
    }
    const io = new FrontSessionIo(this.o, slot, conn);
    io.session = openSession(this.o, io.id, io, peer);
    slot.sessions.set(conn, io.session);
  }
}

const load = (s: FrontSlot) => s.sessions.size + s.handedOff;
