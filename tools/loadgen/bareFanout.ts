/**
 * The same-run ceiling of `pnpm bench scale` (issue 15): a fan-out server with no
 * Kalandra logic — no session, signature, sequencer, storage or ACK — that moves the same
 * frames over the same transports. A client's first 8 bytes name its room; every frame
 * after that goes to every member of the room, the sender included (its copy stands for
 * the hub's ACK, so a message costs the same number of writes). WebSocket: one frame per
 * binary message (`ws`, as kalandrad). WebTransport over HTTP/2: one bidirectional stream,
 * frames cut by the header's payload size.
 *
 * `node --import tsx tools/loadgen/bareFanout.ts` serves on loopback and prints one JSON
 * line `{ws_port, wt_port, cert_hash}`; `bareLinks` connects the load generator's members.
 */
import { StreamDecoder } from "@kalandra/proto";
import { type WebSocket, WebSocketServer } from "ws";
import { openSession } from "../../packages/client/src/platform/node/webTransport.js";
import type { Wt, WtStream } from "../../packages/client/src/transport/platformTypes.js";
import { generateDevCertificate } from "../../packages/server/src/runtime/node/devCert.js";
import { WT_FLOW_OPTIONS } from "../../packages/server/src/runtime/node/transport.js";
import type { Link } from "./frameLoad.js";

const PATH = "/bare";
const MAX_FRAME_PAYLOAD = 1 << 20;

/** A server-side session: the client's shape plus the streams the client opened. */
type WtSession = Wt & { incomingBidirectionalStreams: ReadableStream<WtStream> };

type Peer = (frame: Uint8Array) => void;
const rooms = new Map<bigint, Set<Peer>>();
const join = (room: bigint, peer: Peer) => {
  const set = rooms.get(room) ?? new Set<Peer>();
  rooms.set(room, set);
  set.add(peer);
  return () => set.delete(peer);
};
const roomOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0);

function serveWebSocket(): Promise<number> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  wss.on("connection", (ws: WebSocket) => {
    let leave: (() => void) | undefined;
    let peers: Set<Peer> | undefined;
    ws.on("message", (data: Buffer) => {
      if (peers === undefined) {
        const room = roomOf(data);
        leave = join(room, (f) => ws.send(f));
        peers = rooms.get(room);
        return;
      }
      for (const p of peers) p(data);
    });
    ws.on("close", () => leave?.());
    ws.on("error", () => undefined);
  });
  return new Promise((r) => wss.on("listening", () => r((wss.address() as { port: number }).port)));
}

async function serveWebTransport(cert: string, key: string): Promise<number> {
  const lib = (await import("@fails-components/webtransport")) as unknown as {
    Http2Server: new (
      o: unknown,
    ) => {
      startServer(): void;
      ready: Promise<void>;
      address(): { port: number } | null;
      sessionStream(path: string): ReadableStream<WtSession>;
    };
  };
  const server = new lib.Http2Server({
    port: 0,
    host: "127.0.0.1",
    secret: "bare-fanout",
    cert,
    privKey: key,
    ...WT_FLOW_OPTIONS, // PROBES.md: HTTP/2 WebTransport stalls after 16 KiB without them
  });
  const sessions = server.sessionStream(PATH).getReader();
  server.startServer();
  await server.ready;
  void (async () => {
    for (;;) {
      const r = await sessions.read();
      if (r.done) return;
      void serveSession(r.value).catch(() => undefined);
    }
  })();
  return server.address()?.port ?? 0;
}

async function serveSession(wt: WtSession): Promise<void> {
  wt.closed.catch(() => undefined);
  await wt.ready;
  const first = await wt.incomingBidirectionalStreams.getReader().read();
  if (first.done) return;
  const writer = first.value.writable.getWriter();
  const reader = first.value.readable.getReader();
  const decoder = new StreamDecoder({ maxPayload: MAX_FRAME_PAYLOAD });
  let head = new Uint8Array(0);
  let peers: Set<Peer> | undefined;
  let leave: (() => void) | undefined;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      let chunk = r.value;
      if (peers === undefined) {
        const joined = new Uint8Array(head.length + chunk.length);
        joined.set(head);
        joined.set(chunk, head.length);
        if (joined.length < 8) {
          head = joined;
          continue;
        }
        const room = roomOf(joined);
        leave = join(room, (f) => void writer.write(f).catch(() => undefined));
        peers = rooms.get(room);
        chunk = joined.subarray(8);
      }
      for (const f of decoder.push(chunk)) {
        const bytes = f.toWire();
        for (const p of peers ?? []) p(bytes);
      }
    }
  } finally {
    leave?.();
  }
}

/** Connects `members` links per room to a running bare server (rooms numbered 1..). */
export async function bareLinks(
  transport: "websocket" | "webtransport",
  server: { wsPort: number; wtPort: number; certHash: Uint8Array },
  roomCount: number,
  members: number,
): Promise<Link[][]> {
  const out: Link[][] = [];
  for (let r = 1; r <= roomCount; r++) {
    const room = new Uint8Array(8);
    new DataView(room.buffer).setBigUint64(0, BigInt(r));
    const links: Link[] = [];
    for (let m = 0; m < members; m++)
      links.push(
        transport === "websocket"
          ? await wsLink(server.wsPort, room)
          : await wtLink(server.wtPort, server.certHash, room),
      );
    out.push(links);
  }
  return out;
}

async function wsLink(port: number, room: Uint8Array): Promise<Link> {
  const { WebSocket: Ws } = await import("ws");
  const ws = new Ws(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  await new Promise((res, rej) => {
    ws.once("open", res);
    ws.once("error", rej);
  });
  ws.send(room);
  let cb: (f: Uint8Array) => void = () => undefined;
  ws.on("message", (data: Buffer) => cb(data));
  return {
    send: (f) => ws.send(f),
    onFrame: (next) => {
      cb = next;
    },
    close: () => ws.terminate(),
  };
}

async function wtLink(port: number, certHash: Uint8Array, room: Uint8Array): Promise<Link> {
  const wt = await openSession(`https://127.0.0.1:${port}${PATH}`, certHash);
  if (wt === undefined) throw new Error("no WebTransport in this runtime");
  wt.closed.catch(() => undefined);
  await wt.ready;
  const stream = await wt.createBidirectionalStream();
  const writer = stream.writable.getWriter();
  void writer.write(room);
  let cb: (f: Uint8Array) => void = () => undefined;
  const decoder = new StreamDecoder({ maxPayload: MAX_FRAME_PAYLOAD });
  void (async () => {
    const reader = stream.readable.getReader();
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) return;
        for (const f of decoder.push(r.value)) cb(f.toWire());
      }
    } catch {
      // closed
    }
  })();
  return {
    send: (f) => void writer.write(f).catch(() => undefined),
    onFrame: (next) => {
      cb = next;
    },
    close: () => {
      try {
        wt.close();
      } catch {
        // already closed
      }
    },
  };
}

const isMain = process.argv[1]?.endsWith("bareFanout.ts") === true;
if (isMain) {
  const cert = generateDevCertificate(["127.0.0.1"]);
  const wsPort = await serveWebSocket();
  const wtPort = await serveWebTransport(cert.cert, cert.key);
  console.log(
    JSON.stringify({
      ws_port: wsPort,
      wt_port: wtPort,
      cert_hash: Buffer.from(cert.hash).toString("hex"),
    }),
  );
  process.on("SIGTERM", () => process.exit(0));
  // Bounded: ends with the bench that started it, even if that one died without a SIGTERM.
  setInterval(() => process.ppid === 1 && process.exit(0), 1000);
}
