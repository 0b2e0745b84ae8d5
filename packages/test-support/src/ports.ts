/**
 * A loopback port free for both UDP (kalandrad's WebTransport listener is QUIC) and TCP at
 * the time of the call. Another process may still take it before the caller binds it:
 * callers that spawn a server bind at once.
 *
 * Ports come from below Linux's ephemeral range (32768-60999), so a test's own outgoing
 * connections (clients, hub links) can never be given a port a hub is about to listen on,
 * and a process never hands out the same port twice (a hub's three listeners ask for three
 * ports before any of them binds). Each process starts at its own offset so parallel test
 * workers rarely probe the same ports.
 */
import { createSocket } from "node:dgram";
import { createServer } from "node:net";

const HOST = "127.0.0.1";
const FIRST = 20_000;
const COUNT = 12_000;

const handedOut = new Set<number>();
let next = (process.pid * 997) % COUNT;

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    s.once("error", () => resolve(false));
    s.bind(port, HOST, () => s.close(() => resolve(true)));
  });
}

function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, HOST, () => s.close(() => resolve(true)));
  });
}

/** @example const port = await freePort(); // then listen on 127.0.0.1:port */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = FIRST + next;
    next = (next + 1) % COUNT;
    if (handedOut.has(port)) continue;
    if ((await udpFree(port)) && (await tcpFree(port))) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("no loopback port free for both UDP and TCP after 200 attempts");
}
