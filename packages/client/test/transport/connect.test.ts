/**
 * The client transports (WebTransport and WebSocket, the same tests for each) against a
 * real kalandrad process (`start --core echo`, which sends every accepted frame back):
 * handshake, round trips, refusal of a wrong hub key, and healing across a hub crash
 * (SIGKILL) and restart on the same ports and data directory.
 */
import { join } from "node:path";
import {
  encodeFrame,
  encodePayload,
  FrameHeader,
  generateDeviceKey,
  Opcode,
  systemRng,
} from "@kalandra/proto";
import {
  freePort,
  type Kalandrad,
  startKalandrad,
  tempDir,
  waitUntil,
} from "@kalandra/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReconnectingConnection } from "../../src/transport/reconnecting.js";
import { connectWebSocket } from "../../src/transport/webSocket.js";
import { connectWebTransport, TransportError } from "../../src/transport/webTransport.js";

const BIN = join(__dirname, "../../../server/bin/kalandrad.mjs");
const data = tempDir("client-wt");
const dataDir = data.path;

/** kalandrad with the echo core on these loopback ports, over the one data directory. */
function startHub(port: number, wsPort: number): Promise<Kalandrad> {
  return startKalandrad({
    bin: BIN,
    dataDir,
    listen: `127.0.0.1:${port}`,
    websocketListen: `127.0.0.1:${wsPort}`,
    monitoringListen: "",
    args: ["--core", "echo"],
  });
}

const key = generateDeviceKey(systemRng);
let port: number;
let wsPort: number;
let hub: Kalandrad;

function ping(requestId: number): Uint8Array {
  return encodeFrame(
    {
      opcode: Opcode.APP_MESSAGE,
      requestId,
      roomId: 1n,
      senderId: key.senderId,
      epoch: 0n,
      payload: encodePayload(Opcode.APP_MESSAGE, {
        generation: requestId,
        ciphertext: new Uint8Array(32),
      }),
    },
    key.signer,
  );
}

function collect(conn: ReconnectingConnection): number[] {
  const ids: number[] = [];
  conn.onFrame((f) => ids.push(FrameHeader.view(f).requestId));
  return ids;
}

/** Waits (real time, bounded) until `pred` holds; fails naming the condition. */
const until = (pred: () => boolean): Promise<void> =>
  waitUntil(pred, pred.toString(), { timeoutMs: 15_000, intervalMs: 25 });

beforeAll(async () => {
  port = await freePort();
  wsPort = await freePort();
  hub = await startHub(port, wsPort);
});

afterAll(async () => {
  if (hub.child.exitCode === null) {
    hub.child.kill("SIGTERM");
    await hub.exit;
  }
  data.cleanup();
});

type Extra = Partial<Parameters<typeof connectWebTransport>[0]>;

/** Alice connects to the test hub over each transport; `extra` overrides or adds options. */
const transports: [string, (extra?: Extra) => Promise<ReconnectingConnection>][] = [
  [
    "connectWebTransport",
    (extra = {}) =>
      connectWebTransport({
        url: `https://127.0.0.1:${port}/kalandra`,
        certHash: hub.certHash,
        deviceSigner: key.signer,
        userId: "alice",
        hubPublicKey: hub.hubKey,
        ...extra,
      }),
  ],
  [
    "connectWebSocket",
    (extra = {}) =>
      connectWebSocket({
        url: `ws://127.0.0.1:${wsPort}/kalandra`,
        deviceSigner: key.signer,
        userId: "alice",
        hubPublicKey: hub.hubKey,
        ...extra,
      }),
  ],
];

describe.each(transports)("%s", (_name, connect) => {
  it("authenticates and carries frames both ways in order", async () => {
    const conn = await connect();
    expect(conn.state).toBe("open");
    expect(conn.senderId).toBe(key.senderId);
    const ids = collect(conn);
    for (let i = 1; i <= 100; i++) conn.send(ping(i));
    await until(() => ids.length === 100);
    expect(ids).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    conn.close();
    expect(conn.state).toBe("closed");
  });

  it("keeps frames that arrive before anyone listens and hands them to the first listener", async () => {
    // The hub pushes a device's waiting Welcomes right after AUTH_OK, before the client
    // registers onFrame: they must not be dropped (issue 12, the Welcome inbox).
    const conn = await connect();
    for (let i = 1; i <= 3; i++) conn.send(ping(i));
    await new Promise((r) => setTimeout(r, 500)); // the echoes arrive with no listener
    const ids = collect(conn);
    await until(() => ids.length === 3);
    expect(ids).toEqual([1, 2, 3]);
    conn.close();
  });

  it("refuses a hub that presents another key", async () => {
    await expect(connect({ hubPublicKey: new Uint8Array(32).fill(7) })).rejects.toBeInstanceOf(
      TransportError,
    );
  });

  it("reconnects with backoff after the hub is killed and restarted, then delivers queued frames", async () => {
    const conn = await connect({ backoff: { initialMs: 50, maxMs: 500 } });
    const ids = collect(conn);
    let reconnects = 0;
    conn.onReconnect(() => reconnects++);
    const states: string[] = [];
    conn.onStateChange((s) => states.push(s));
    conn.send(ping(1));
    await until(() => ids.includes(1));

    hub.child.kill("SIGKILL");
    await hub.exit;
    await until(() => conn.state === "connecting");
    conn.send(ping(2)); // queued while the hub is down
    hub = await startHub(port, wsPort); // same data dir: same certificate and hub key
    await until(() => reconnects === 1);
    expect(conn.state).toBe("open");
    expect(conn.connections).toBe(2);
    await until(() => ids.includes(2));
    conn.send(ping(3));
    await until(() => ids.includes(3));
    expect(states).toEqual(["connecting", "open"]);
    conn.close();
  });

  it("drops a connection the client core found silent and opens a new session", async () => {
    // The keep-alive (state/hubLink.ts) calls drop() when the hub stays silent past its
    // timeout: the channel goes and the transport reconnects as after any loss.
    const conn = await connect({ backoff: { initialMs: 20, maxMs: 100 } });
    const ids = collect(conn);
    let reconnects = 0;
    conn.onReconnect(() => reconnects++);
    conn.drop("hub silent for 120000 ms");
    expect(conn.state).toBe("connecting");
    conn.send(ping(7)); // queued until the new session is up
    await until(() => reconnects === 1);
    expect(conn.connections).toBe(2);
    await until(() => ids.includes(7));
    conn.drop("again"); // not open yet or open: either way it heals
    await until(() => conn.state === "open" && reconnects === 2);
    conn.close();
    conn.drop("after close"); // a closed connection stays closed
    expect(conn.state).toBe("closed");
  });
});
