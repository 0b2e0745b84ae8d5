/**
 * The client core's keep-alive against kalandrad with a WebSocket front process
 * (`server.websocket_fronts = 1`, issue 15): the hub asks for a longer PING interval in
 * AUTH_OK (`limits.client_ping_interval_ms` → `ping_ms`), the WebSocket transport reports
 * it and the core PINGs at that pace; and with the hub's primary hung (SIGSTOP) while its
 * front still answers WebSocket ping frames, the core still notices the dead hub (its PINGs
 * get no PONG) and drops the connection.
 */
import { join } from "node:path";
import { Opcode, systemClock, systemTimers } from "@kalandra/proto";
import {
  freePort,
  type Kalandrad,
  startKalandrad,
  tempDir,
  waitUntil,
} from "@kalandra/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deviceFromSeed } from "../../src/state/device.js";
import { HubLink } from "../../src/state/hubLink.js";
import { RequestIds } from "../../src/state/persistence.js";
import { parseFrame } from "../../src/state/wire.js";
import { MemoryStore } from "../../src/store.js";
import type { ReconnectingConnection } from "../../src/transport/reconnecting.js";
import { connectWebSocket } from "../../src/transport/webSocket.js";

const BIN = join(__dirname, "../../../server/bin/kalandrad.mjs");
const data = tempDir("client-front-keepalive");
/** The client's own keep-alive, and the longer interval the hub asks for. */
const OWN = { intervalMs: 300, timeoutMs: 1000 };
const ASKED_MS = 600;
let hub: Kalandrad;
let wsPort: number;

beforeAll(async () => {
  wsPort = await freePort();
  hub = await startKalandrad({
    bin: BIN,
    dataDir: data.path,
    listen: `127.0.0.1:${await freePort()}`,
    websocketListen: `127.0.0.1:${wsPort}`,
    monitoringListen: "",
    args: ["--core", "echo"],
    env: {
      KALANDRA_SERVER__WEBSOCKET_FRONTS: "1",
      KALANDRA_LIMITS__CLIENT_PING_INTERVAL_MS: String(ASKED_MS),
    },
  });
}, 60_000);

afterAll(async () => {
  if (hub.child.exitCode === null) {
    hub.child.kill("SIGCONT");
    hub.child.kill("SIGTERM");
    await hub.exit;
  }
  data.cleanup();
});

describe("client keep-alive through a WebSocket front", () => {
  it("PINGs at the hub's asked interval, and notices a hung hub whose front still answers ping frames", async () => {
    const device = deviceFromSeed("alice", new Uint8Array(32).fill(7));
    const conn: ReconnectingConnection = await connectWebSocket({
      url: `ws://127.0.0.1:${wsPort}/kalandra`,
      deviceSigner: device.signer,
      userId: "alice",
      hubPublicKey: hub.hubKey,
      backoff: { initialMs: 60_000, maxMs: 60_000 }, // no reconnect within the test
    });
    expect(conn.pingMs).toBe(ASKED_MS);
    const sent: number[] = [];
    const send = conn.send.bind(conn);
    conn.send = (f) => {
      sent.push(parseFrame(f).header.opcode);
      send(f);
    };
    const silent: number[] = [];
    const link = new HubLink({
      connection: conn,
      clock: systemClock,
      timers: systemTimers(),
      keepalive: OWN,
      onHubSilent: (ms) => silent.push(ms),
      policy: { retryMs: 60_000, maxAttempts: 3 },
      requestIds: await RequestIds.load(new MemoryStore()),
      device,
      hubPublicKey: hub.hubKey,
      onPush: () => undefined,
    });
    try {
      link.watch(conn.pingMs);
      await new Promise((r) => setTimeout(r, 2000));
      const pings = sent.filter((o) => o === Opcode.PING).length;
      // Every 600 ms (3 in 2 s, give or take a timer), not every 300 ms (6); each answered.
      expect(pings).toBeGreaterThanOrEqual(1);
      expect(pings).toBeLessThanOrEqual(4);
      expect(silent).toEqual([]);
      // The primary hangs; its front keeps the WebSocket (and its ping frames) going.
      hub.child.kill("SIGSTOP");
      const stopped = Date.now();
      await waitUntil(() => silent.length > 0, "the core finds the hub silent", {
        timeoutMs: 10_000,
        intervalMs: 25,
      });
      // Negotiated timeout: 1000 + (600 − 300) = 1300 ms of silence.
      expect(silent[0]).toBeGreaterThanOrEqual(1300);
      expect(Date.now() - stopped).toBeLessThan(5000);
      expect(conn.state).not.toBe("open"); // dropped: the transport reconnects on its backoff
    } finally {
      hub.child.kill("SIGCONT");
      link.close();
      conn.close();
    }
  });
});
