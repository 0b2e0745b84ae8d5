/**
 * A large room on a real hub (kalandrad as a child process, WebSocket on loopback): the room
 * built by _scaleRoomsMls.ts is created and grown through the hub (ROOM_CREATE, one COMMIT
 * per batch), then every member opens an authenticated session and one APP_MESSAGE is fanned
 * out to all of them; then the creator (the room's owner) kicks a member and the hub's
 * Remove proposal reaches every session. Part of `pnpm bench scale` section `rooms`.
 *
 * Members connect only once the room is built: every COMMIT is fanned out with its GroupInfo
 * (ratchet tree inside) and Welcome, megabytes at 10,000 members, to every connected member
 * (docs/performance.md "Scale: large rooms"), which this bench does not try to push.
 *
 * Baseline in the same run: a bare `ws` server with no Kalandra logic sending a frame of the
 * same size to the same number of sockets in this process.
 */
import { fork } from "node:child_process";
import { createPrivateKey } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { connectWebSocket, type WebSocketConnection } from "@kalandra/client";
import { decodePayload, encodeFrame, encodePayload, FrameHeader, Opcode } from "@kalandra/proto";
import { type TempDir, tempDir } from "@kalandra/test-support";
import WebSocket from "ws";
import { spawnHub } from "../loadgen/hub.js";
import { UNLIMITED_RATES } from "./_benchEnv.js";
import type { HubSigner, RoomMember } from "./_scaleRoomsFixture.js";
import type { BuiltRoom } from "./_scaleRoomsMls.js";

export interface RoomHubFigures {
  sessions: number;
  connect_all_ms: number;
  create_on_hub_ms: number;
  /** APP_MESSAGE sent → the last of the other members' sessions received it (median). */
  fanout_ms: number;
  /** The same, from the sender's ACK (the frame sequenced and durable). */
  fanout_after_ack_ms: number;
  /** Same-run ceiling: a bare `ws` server sending one frame of that size to as many sockets. */
  bare_ws_fanout_ms: number;
  /** KICK sent → the hub's Remove proposal at the last session. */
  kick_proposal_fanout_ms: number;
  hub_rss_mb: number;
}

const here = dirname(fileURLToPath(import.meta.url));
const CONNECT_PARALLEL = 200;
const MESSAGES = 5;
const MESSAGE_BYTES = 100;

const unlimited = {
  ...UNLIMITED_RATES,
  // Every member's session comes from 127.0.0.1 (limits.max_connections_per_ip, 2,000 by default).
  KALANDRA_LIMITS__MAX_CONNECTIONS_PER_IP: "100000",
  KALANDRA_LIMITS__MAX_CONNECTIONS: "100000",
};

/** The bench's hub key as kalandrad's PEM (`server.hub_key`): the room lists it (DESIGN §6). */
function writeHubKey(dir: string, seed: Uint8Array): string {
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
  const pem = createPrivateKey({ key: der, format: "der", type: "pkcs8" }).export({
    type: "pkcs8",
    format: "pem",
  });
  const path = join(dir, "bench-hub-key.pem");
  writeFileSync(path, pem, { mode: 0o600 });
  return path;
}

/** Responses by request id, and a waiter per opcode for fanned-out frames. */
class Session {
  private nextId = 1;
  private readonly waiting = new Map<number, (f: Uint8Array) => void>();
  onOpcode: ((opcode: number, frame: Uint8Array) => void) | undefined;
  constructor(
    readonly conn: WebSocketConnection,
    readonly member: RoomMember,
  ) {
    conn.onFrame((f) => {
      const h = FrameHeader.view(f);
      const w = this.waiting.get(h.requestId);
      if ((h.opcode === Opcode.ACK || h.opcode === Opcode.ERROR) && w !== undefined) {
        this.waiting.delete(h.requestId);
        w(f);
      } else this.onOpcode?.(h.opcode, f);
    });
  }
  request(opcode: Opcode, roomId: bigint, epoch: bigint, payload: Record<string, unknown>) {
    const requestId = this.nextId++;
    const frame = encodeFrame(
      {
        opcode,
        requestId,
        roomId,
        senderId: this.member.senderId,
        epoch,
        payload: encodePayload(opcode, payload),
      },
      this.member.signer,
    );
    return new Promise<Uint8Array>((resolve, reject) => {
      this.waiting.set(requestId, (f) => {
        const h = FrameHeader.view(f);
        if (h.opcode === Opcode.ACK) resolve(f);
        else
          reject(
            new Error(
              `opcode ${opcode} refused: ${JSON.stringify(decodePayload(Opcode.ERROR, f.subarray(128)))}`,
            ),
          );
      });
      this.conn.send(frame);
    });
  }
}

async function connectAll(url: string, hubKey: Uint8Array, members: RoomMember[]) {
  const out: Session[] = [];
  for (let i = 0; i < members.length; i += CONNECT_PARALLEL) {
    const part = members.slice(i, i + CONNECT_PARALLEL);
    const conns = await Promise.all(
      part.map((m) =>
        connectWebSocket({
          url,
          deviceSigner: m.signer,
          userId: m.userId,
          hubPublicKey: hubKey,
          connectTimeoutMs: 120_000,
        }),
      ),
    );
    for (const [j, c] of conns.entries()) out.push(new Session(c, part[j] as RoomMember));
  }
  return out;
}

/** Resolves when every session in `sessions` saw a frame with `opcode`; the time of the last. */
function lastArrival(sessions: Session[], opcode: Opcode): Promise<number> {
  let left = sessions.length;
  return new Promise((resolve) => {
    for (const s of sessions) {
      s.onOpcode = (op) => {
        if (op !== opcode) return;
        s.onOpcode = undefined;
        if (--left === 0) resolve(performance.now());
      };
    }
  });
}

/** One client socket to the bare server, tried again (a few times) if the connect is reset. */
async function openBareSocket(url: string, attempts = 5): Promise<WebSocket> {
  for (let a = 1; ; a++) {
    const ws = new WebSocket(url);
    ws.on("error", () => {}); // a reset after the test is over is no failure
    const opened = await new Promise<boolean>((r) => {
      ws.once("open", () => r(true));
      ws.once("close", () => r(false));
    });
    if (opened) return ws;
    if (a >= attempts) throw new Error(`cannot connect to the bare ws server at ${url}`);
  }
}

/** A bare `ws` fan-out of one `bytes`-long message to `n` sockets (server in a child process). */
export async function bareWsFanout(n: number, bytes: number): Promise<number> {
  const child = fork(join(here, "_bareFanoutServer.ts"), [], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const next = () =>
    new Promise<{ port?: number; count?: number }>((resolve, reject) => {
      child.once("message", (m) => resolve(m as { port?: number; count?: number }));
      child.once("exit", () => reject(new Error("the bare ws server exited")));
    });
  const clients: WebSocket[] = [];
  try {
    const { port } = await next();
    for (let i = 0; i < n; i += CONNECT_PARALLEL) {
      const part = Array.from({ length: Math.min(CONNECT_PARALLEL, n - i) }, async () => {
        clients.push(await openBareSocket(`ws://127.0.0.1:${port}`));
      });
      await Promise.all(part);
    }
    child.send({ count: true });
    if ((await next()).count !== n) throw new Error("the bare ws server lost sockets");
    const times: number[] = [];
    for (let m = 0; m < MESSAGES; m++) {
      let left = n;
      const done = new Promise<number>((resolve) => {
        for (const c of clients)
          c.once("message", () => {
            if (--left === 0) resolve(performance.now());
          });
      });
      const t0 = performance.now();
      child.send({ send: bytes });
      times.push((await done) - t0);
    }
    return median(times);
  } finally {
    for (const c of clients) c.terminate();
    child.kill();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round((s[s.length >> 1] ?? Number.NaN) * 10) / 10;
}

/** The hub process's resident set (Linux /proc; NaN elsewhere). */
function hubRssMb(pid: number | undefined): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kb === undefined ? Number.NaN : Math.round(Number(kb) / 1024);
  } catch {
    return Number.NaN;
  }
}

export async function measureRoomOnHub(
  roomId: bigint,
  members: RoomMember[],
  built: BuiltRoom,
  hub: HubSigner,
  log: (s: string) => void,
): Promise<RoomHubFigures> {
  const dir: TempDir = tempDir("bench-scale-rooms");
  const spawned = await spawnHub(dir.path, {
    ...unlimited,
    KALANDRA_SERVER__HUB_KEY: writeHubKey(dir.path, hub.seed),
    KALANDRA_LIMITS__MAX_MEMBERS_PER_ROOM: String(Math.max(members.length, 2)),
  });
  const sessions: Session[] = [];
  try {
    if (!Buffer.from(spawned.hubKey).equals(hub.publicKey)) throw new Error("hub key not used");
    // Every device authenticates once first: the hub adds only devices it has bound
    // (CREDENTIAL_MISMATCH otherwise). They leave again until the room is built.
    const t0 = performance.now();
    const binding = await connectAll(spawned.websocket, spawned.hubKey, members.slice(1));
    for (const s of binding) s.conn.close();
    const bind_all_ms = performance.now() - t0;
    log(`${binding.length} devices bound in ${Math.round(bind_all_ms)} ms`);
    const [creator] = await connectAll(spawned.websocket, spawned.hubKey, members.slice(0, 1));
    if (creator === undefined) throw new Error("no creator session");
    sessions.push(creator);
    const t1 = performance.now();
    await creator.request(Opcode.ROOM_CREATE, roomId, 0n, { group_info: built.creation });
    let epoch = 0n;
    for (const b of built.batches) {
      await creator.request(Opcode.COMMIT, roomId, epoch, {
        commit: b.commit,
        group_info: b.groupInfo,
      });
      epoch++;
    }
    const create_on_hub_ms = performance.now() - t1;
    log(`room created on the hub in ${Math.round(create_on_hub_ms)} ms (epoch ${epoch})`);

    const t2 = performance.now();
    sessions.push(...(await connectAll(spawned.websocket, spawned.hubKey, members.slice(1))));
    const connect_all_ms = performance.now() - t2;
    log(`${sessions.length} sessions in ${Math.round(connect_all_ms)} ms`);
    const others = sessions.slice(1);

    const fanouts: number[] = [];
    const afterAck: number[] = [];
    for (let m = 0; m < MESSAGES; m++) {
      const last = lastArrival(others, Opcode.APP_MESSAGE);
      const sent = performance.now();
      const ack = creator
        .request(Opcode.APP_MESSAGE, roomId, epoch, {
          generation: m,
          ciphertext: new Uint8Array(MESSAGE_BYTES),
        })
        .then(() => performance.now());
      const [acked, arrived] = await Promise.all([ack, last]);
      fanouts.push(arrived - sent);
      afterAck.push(arrived - acked);
    }
    log(`fan-out to ${others.length}: ${fanouts.map(Math.round).join(", ")} ms`);

    const kicked = members[Math.floor(members.length / 2)] as RoomMember;
    const proposals = lastArrival(others, Opcode.PROPOSAL);
    const kickSent = performance.now();
    await creator.request(Opcode.KICK, roomId, epoch, { user_id: kicked.userId, reason: "bench" });
    const kick_proposal_fanout_ms = (await proposals) - kickSent;
    log(
      `kick: the hub's Remove proposal at ${others.length} sessions in ${Math.round(kick_proposal_fanout_ms)} ms`,
    );
    const hub_rss_mb = hubRssMb(spawned.child.pid);

    for (const s of sessions) s.conn.close();
    sessions.length = 0;
    const frameBytes =
      128 +
      encodePayload(Opcode.APP_MESSAGE, {
        generation: 0,
        ciphertext: new Uint8Array(MESSAGE_BYTES),
      }).length;
    const bare_ws_fanout_ms = await bareWsFanout(others.length, frameBytes);
    return {
      sessions: others.length + 1,
      connect_all_ms: Math.round(connect_all_ms),
      create_on_hub_ms: Math.round(create_on_hub_ms),
      fanout_ms: median(fanouts),
      fanout_after_ack_ms: median(afterAck),
      bare_ws_fanout_ms,
      kick_proposal_fanout_ms: Math.round(kick_proposal_fanout_ms * 10) / 10,
      hub_rss_mb,
    };
  } finally {
    for (const s of sessions) s.conn.close();
    await spawned.stop();
    dir.cleanup();
  }
}
