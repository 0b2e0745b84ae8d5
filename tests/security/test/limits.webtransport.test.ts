/**
 * Issue 12: WebTransport sessions that never open a stream were neither timed out nor
 * counted (300 held open for 70 s and more). A session now counts towards
 * `limits.max_connections` and its auth timer runs from the moment the transport session
 * is accepted, stream or not. Before the change the WebSocket session below was admitted
 * although the hub was full, and the streamless sessions stayed open.
 */
import { WebTransport } from "@fails-components/webtransport";
import { Frame } from "@kalandra/proto";
import { waitUntil } from "@kalandra/test-support";
import { afterAll, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
import { errorName, pingOk, RawSession, type SecurityHub, startHub } from "./hub.js";

const HELD = 4;
const AUTH_TIMEOUT_MS = 2000;
let hub: SecurityHub;
let bystander: RawSession;
const sessions: WebTransport[] = [];

beforeAll(async () => {
  hub = await startHub({
    env: {
      KALANDRA_LIMITS__MAX_CONNECTIONS: String(HELD + 1),
      KALANDRA_LIMITS__AUTH_TIMEOUT_MS: String(AUTH_TIMEOUT_MS),
    },
  });
  bystander = await RawSession.open(hub, "bystander");
});
afterAll(async () => {
  for (const wt of sessions) {
    try {
      wt.close();
    } catch {
      // already closed by the hub
    }
  }
  bystander?.close();
  await hub?.stop();
});

it("counts WebTransport sessions without a stream and closes them after auth_timeout", async () => {
  const closed: number[] = [];
  const opened = Date.now();
  for (let i = 0; i < HELD; i++) {
    const wt = new WebTransport(`https://127.0.0.1:${hub.port}/kalandra`, {
      serverCertificateHashes: [{ algorithm: "sha-256", value: hub.certHash.slice() }],
      forceReliable: true,
    } as never);
    await wt.ready;
    wt.closed.then(
      () => closed.push(Date.now()),
      () => closed.push(Date.now()),
    );
    sessions.push(wt);
  }
  // The hub is full (the bystander and the streamless sessions): one more is refused.
  // (A plain socket: the refusal comes right behind the upgrade, before `open` resolves.)
  const refused = await new Promise<Frame[]>((resolve, reject) => {
    const frames: Frame[] = [];
    const ws = new WebSocket(hub.websocket);
    ws.on("message", (d: Buffer) => frames.push(Frame.fromWire(new Uint8Array(d))));
    ws.on("close", () => resolve(frames));
    ws.on("error", reject);
  });
  expect(refused.map(errorName)).toEqual(["TOO_MANY_CONNECTIONS"]);

  // Each streamless session is closed once auth_timeout has passed, and the slots free up.
  await waitUntil(() => closed.length === HELD, "every streamless session closed", {
    timeoutMs: AUTH_TIMEOUT_MS + 8000,
    intervalMs: 50,
  });
  expect(Math.min(...closed) - opened).toBeGreaterThanOrEqual(AUTH_TIMEOUT_MS - 200);
  const later = await RawSession.open(hub, "later");
  await pingOk(later);
  later.close();
  await pingOk(bystander);
}, 60_000);
