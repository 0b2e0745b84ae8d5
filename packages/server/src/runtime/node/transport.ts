/**
 * The WebTransport listener (@fails-components/webtransport 1.6.8). HTTP/3 through the
 * optional quiche binding when it is installed, otherwise the library's HTTP/2 mode.
 *
 * PROBES.md: in HTTP/2 mode the library's defaults stall a stream after 16 KiB and a
 * session after 100 streams, so both sides raise the flow-control windows to 64 MiB and
 * the stream limits to 1e6 (`WT_FLOW_OPTIONS`, shared with the client transport by value).
 * Frames travel on the one bidirectional stream the client opens; PRESENCE/TYPING may
 * travel as datagrams.
 */
import { concatBytes } from "@kalandra/proto";
import {
  closeSession,
  type ListenerDeps,
  openSession,
  peerHost,
  refuseConnection,
} from "./connectionGate.js";
import type { Session, SessionLimits } from "./session.js";

/** Flow-control options for both sides of an HTTP/2 WebTransport session (PROBES.md). */
export const WT_WINDOW = 64 * 1024 * 1024;
export const WT_STREAMS = 1_000_000;
export const WT_FLOW_OPTIONS = {
  initialStreamFlowControlWindow: WT_WINDOW,
  initialSessionFlowControlWindow: WT_WINDOW,
  streamFlowControlWindowSizeLimit: WT_WINDOW,
  sessionFlowControlWindowSizeLimit: WT_WINDOW,
  initialBidirectionalStreams: WT_STREAMS,
  initialUnidirectionalStreams: WT_STREAMS,
  initialBidirectionalSendStreams: WT_STREAMS,
  initialBidirectionalReceiveStreams: WT_STREAMS,
  initialUnidirectionalSendStreams: WT_STREAMS,
  initialUnidirectionalReceiveStreams: WT_STREAMS,
} as const;

/** The path clients open sessions on. */
export const WT_PATH = "/kalandra";

/** Bytes queued towards one client beyond which it is disconnected as too slow. */
export const MAX_QUEUED_BYTES = 256 * 1024 * 1024;
/** Time between ending our side of the stream and closing the session. */
const CLOSE_GRACE_MS = 250;

export interface RuntimeLimits extends SessionLimits {
  maxConnections: number;
  /** Open sessions from one source address (0 = no cap). */
  maxConnectionsPerIp: number;
  /** Authenticated sessions of one user (0 = no cap). */
  maxSessionsPerUser: number;
  deviceRatePerSec: number;
  deviceBurst: number;
}

export interface TransportOptions extends ListenerDeps {
  host: string;
  port: number;
  cert: string;
  key: string;
}

export type TransportMode = "http3+http2" | "http2";

// Minimal structural types for the parts of the library we use (its .d.ts are loose).
interface WtStream {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}
interface WtSession {
  ready: Promise<void>;
  /** "address:port" of the client (HTTP/2 mode), when the library knows it. */
  readonly peerAddress?: string;
  closed: Promise<unknown>;
  close(info?: { closeCode?: number; reason?: string }): void;
  incomingBidirectionalStreams: ReadableStream<WtStream>;
  datagrams?: {
    readable: ReadableStream<Uint8Array>;
    createWritable?(): WritableStream<Uint8Array>;
  };
}
interface WtServer {
  startServer(): void;
  stopServer(): void;
  ready: Promise<void>;
  closed: Promise<void>;
  address(): { port: number; host: string } | null;
  sessionStream(path: string): ReadableStream<WtSession>;
  /** Swaps the TLS context (Node's `setSecureContext` in HTTP/2 mode): new sessions only. */
  updateCert(cert: string, privKey: string, http2only: boolean): void;
}

/** Loads the quiche HTTP/3 binding if it is installed; false otherwise (the usual case here). */
export async function quicheAvailable(): Promise<boolean> {
  try {
    const name = "@fails-components/webtransport-transport-http3-quiche";
    await import(name);
    return true;
  } catch {
    return false;
  }
}

export class WebTransportListener {
  private server: WtServer | undefined;
  private readonly sessions = new Map<
    string,
    { session: Session; wt: WtSession; pending: Set<Promise<unknown>> }
  >();
  private accepting = true;
  private nextId = 1;
  private acceptLoop: Promise<void> | undefined;
  mode: TransportMode = "http2";

  constructor(private readonly o: TransportOptions) {}

  async start(): Promise<{ port: number; mode: TransportMode }> {
    const lib = await import("@fails-components/webtransport");
    const http3 = await quicheAvailable();
    this.mode = http3 ? "http3+http2" : "http2";
    const init = {
      port: this.o.port,
      host: this.o.host,
      secret: this.o.rng.bytes(16).toString(),
      cert: this.o.cert,
      privKey: this.o.key,
      ...WT_FLOW_OPTIONS,
    };
    const server = (http3
      ? new lib.HttpServer({ ...init, reliability: "both" } as never)
      : new lib.Http2Server(init as never)) as unknown as WtServer;
    this.server = server;
    const stream = server.sessionStream(WT_PATH);
    server.startServer();
    await server.ready;
    const port = server.address()?.port ?? this.o.port;
    this.o.log?.info({ mode: this.mode, host: this.o.host, port }, "webtransport listening");
    this.acceptLoop = this.accept(stream);
    return { port, mode: this.mode };
  }

  /** Number of open sessions. */
  get size(): number {
    return this.sessions.size;
  }

  /** Applies new limits to every open session (SIGHUP). */
  reconfigure(limits: RuntimeLimits): void {
    this.o.limits = limits;
    for (const { session } of this.sessions.values()) session.reconfigure(limits);
    this.o.hub.reconfigure(limits);
  }

  /**
   * Serves `cert`/`key` to sessions opened from now on (SIGHUP, certificates.ts); open
   * sessions keep the TLS session they have.
   */
  updateCertificate(cert: string, key: string): void {
    this.o.cert = cert;
    this.o.key = key;
    this.server?.updateCert(cert, key, false);
  }

  /** Stops accepting new sessions; open ones keep working until `close`. */
  stopAccepting(): void {
    this.accepting = false;
  }

  /**
   * Waits until every queued outbound write finished (or `timeoutMs` passed), then closes
   * all sessions and the listener.
   */
  async close(timeoutMs = 5000): Promise<void> {
    this.accepting = false;
    const flushes = [...this.sessions.values()].flatMap((s) => [...s.pending]);
    await Promise.race([Promise.allSettled(flushes), delay(timeoutMs)]);
    for (const { session } of [...this.sessions.values()]) session.close("hub shutting down");
    try {
      this.server?.stopServer();
    } catch {
      // already stopped
    }
    await Promise.race([this.acceptLoop ?? Promise.resolve(), delay(1000)]);
  }

  private async accept(stream: ReadableStream<WtSession>): Promise<void> {
    const reader = stream.getReader();
    for (;;) {
      let next: WtSession | undefined;
      try {
        const r = await reader.read();
        next = r.done ? undefined : r.value;
      } catch {
        return;
      }
      if (next === undefined) return;
      this.serve(next).catch((e) => this.o.log?.warn({ err: String(e) }, "session failed"));
    }
  }

  /**
   * One WebTransport session. It is counted (`max_connections`) and its auth timer runs
   * from the moment the transport session is accepted, whether or not the client ever opens
   * the stream frames travel on (issue 12: sessions that never opened a stream were neither
   * counted nor timed out). Frames for a session without its stream are dropped: it has
   * sent nothing to answer, and the auth timeout closes it.
   */
  private async serve(wt: WtSession): Promise<void> {
    wt.closed.catch(() => undefined);
    await wt.ready;
    const streams = wt.incomingBidirectionalStreams.getReader();
    const peer = peerHost(wt.peerAddress, true);
    const refusal = refuseConnection(this.o, this.accepting, peer);
    if (refusal !== undefined) return refuseSession(wt, streams, refusal);
    const id = `s${this.nextId++}`;
    const pending = new Set<Promise<unknown>>();
    let writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
    let queued = 0;
    let ended = false;
    let datagramWriter: WritableStreamDefaultWriter<Uint8Array> | undefined;
    try {
      datagramWriter = wt.datagrams?.createWritable?.().getWriter();
    } catch {
      datagramWriter = undefined;
    }
    // Frames sent within one synchronous run (a fan-out burst) go to the library as one
    // write (issue 15): each write costs a web-streams request, a capsule header and an
    // HTTP/2 DATA frame, whatever its size.
    let burst: Uint8Array[] = [];
    const flush = () => {
      const frames = burst;
      burst = [];
      if (ended || writer === undefined || frames.length === 0) return;
      const bytes = frames.length === 1 ? (frames[0] as Uint8Array) : concatBytes(...frames);
      const p = writer.write(bytes).then(
        () => {
          queued -= bytes.length;
          pending.delete(p);
        },
        () => {
          pending.delete(p);
          session.close("write failed");
        },
      );
      pending.add(p);
    };
    const finish = (reason: string) => {
      if (ended) return;
      flush(); // the frames of this run first (typically the ERROR explaining the close)
      ended = true;
      this.sessions.delete(id);
      closeSession(this.o, id, reason);
      const w = writer;
      if (w === undefined) return safeClose(wt, reason);
      // A resolved write is only handed to the library, not yet on the wire: give the last
      // frames (typically the ERROR explaining the close) a moment before the session ends.
      const drained = Promise.allSettled([...pending])
        .then(() => w.close().catch(() => undefined))
        .then(() => delay(CLOSE_GRACE_MS));
      Promise.race([drained, delay(2000)]).finally(() => safeClose(wt, reason));
    };
    const session: Session = openSession(
      this.o,
      id,
      {
        send: (frame) => {
          if (ended || writer === undefined) return;
          queued += frame.length;
          if (queued > MAX_QUEUED_BYTES) {
            this.o.log?.warn({ session: id, queued }, "client too slow; closing");
            session.close("client too slow");
            return;
          }
          if (burst.length === 0) queueMicrotask(flush);
          burst.push(frame);
        },
        sendDatagram: datagramWriter
          ? (frame) => {
              if (frame.length > 1200 || ended) return false;
              datagramWriter?.write(frame).catch(() => undefined);
              return true;
            }
          : undefined,
        close: (reason) => finish(reason),
      },
      peer,
    );
    this.sessions.set(id, { session, wt, pending });
    wt.closed.then(
      () => session.close("transport closed"),
      () => session.close("transport closed"),
    );
    if (wt.datagrams) this.readDatagrams(wt.datagrams.readable, session);
    const first = await streams.read().catch(() => undefined);
    if (first === undefined || first.done || session.closed) {
      session.close("no stream");
      return;
    }
    writer = first.value.writable.getWriter();
    const reader = first.value.readable.getReader();
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        session.onBytes(r.value);
        if (session.closed) break;
      }
      session.onEnd();
    } catch {
      session.close("stream reset");
    }
  }

  private async readDatagrams(
    readable: ReadableStream<Uint8Array>,
    session: Session,
  ): Promise<void> {
    try {
      const reader = readable.getReader();
      for (;;) {
        const r = await reader.read();
        if (r.done || session.closed) return;
        session.onDatagram(r.value);
      }
    } catch {
      // datagrams unsupported or session gone
    }
  }
}

/** Time a refused session has to open its stream and read why before it is closed. */
const REFUSAL_WAIT_MS = 1000;

/**
 * A session beyond the limits: the refusal goes on its first stream if one opens within
 * REFUSAL_WAIT_MS, then the session is closed (it was never counted).
 */
async function refuseSession(
  wt: WtSession,
  streams: ReadableStreamDefaultReader<WtStream>,
  refusal: Uint8Array,
): Promise<void> {
  const first = await Promise.race([
    streams.read().catch(() => undefined),
    delay(REFUSAL_WAIT_MS).then(() => undefined),
  ]);
  if (first === undefined || first.done) return safeClose(wt, "refused");
  const writer = first.value.writable.getWriter();
  writer
    .write(refusal)
    .then(() => writer.close())
    .catch(() => undefined)
    .finally(() => setTimeout(() => safeClose(wt, "refused"), 50));
}

function safeClose(wt: WtSession, reason: string): void {
  try {
    wt.close({ closeCode: 0, reason: reason.slice(0, 100) });
  } catch {
    // already closed
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
