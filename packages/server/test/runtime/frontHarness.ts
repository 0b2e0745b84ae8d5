/**
 * A WebSocket front (wsFront.ts) in the test's process, its primary played by the test:
 * a loopback listener passing each socket to the front, and a poll for what it reported.
 */
import { createServer, type Server } from "node:net";
import type { FrontSettings } from "../../src/runtime/node/websocket/frontProtocol.js";
import type { Front } from "../../src/runtime/node/wsFront.js";

/** A plain-ws front's settings: small caps, no keep-alive (tests turn on what they need). */
export const FRONT_SETTINGS: FrontSettings = {
  path: "/kalandra",
  preAuthCap: 1024,
  cap: 64 * 1024,
  maxQueuedBytes: 256 * 1024,
  keepalive: { intervalMs: 0, timeoutMs: 0 },
  vouchMs: 15_000,
};

/** Serves `front` on a loopback port; its `ws://` URL and the listener to close. */
export async function listenFront(front: Front): Promise<{ server: Server; url: string }> {
  const server = createServer((s) => front.adopt(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  const url = `ws://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/kalandra`;
  return { server, url };
}

/** `f()` once it is defined, polled every 10 ms; throws after `ms`. */
export async function until<T>(f: () => T | undefined, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}
