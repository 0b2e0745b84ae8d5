/**
 * A loopback port free for both UDP (kalandrad's WebTransport listener is QUIC) and TCP at
 * the time of the call. Another process may still take it before the caller binds it:
 * callers that spawn a server bind at once.
 */
import { createSocket } from "node:dgram";
import { createServer } from "node:net";

const HOST = "127.0.0.1";

function bindUdp(port: number): Promise<{ port: number; close: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    s.once("error", reject);
    s.bind(port, HOST, () =>
      resolve({ port: s.address().port, close: () => new Promise((r) => s.close(() => r())) }),
    );
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
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = await bindUdp(0);
    const ok = await tcpFree(udp.port);
    await udp.close();
    if (ok) return udp.port;
  }
  throw new Error("no loopback port free for both UDP and TCP after 20 attempts");
}
