/**
 * The same-run ceiling of `pnpm bench scale` section `rooms` (_scaleRoomsHub.ts): a bare
 * `ws` server with no Kalandra logic, in its own process like kalandrad (one process could
 * not hold both ends of 10,000 sockets within `ulimit -n`). Forked with IPC: it sends its
 * port once listening, and on `{ send: bytes }` writes one message of that size to every
 * connected socket; `{ count: true }` answers with the number of connected sockets.
 */
import { WebSocketServer } from "ws";

// A deep accept queue: thousands of loopback connects in bursts overflow the default 511.
const server = new WebSocketServer({ host: "127.0.0.1", port: 0, backlog: 8192 });
server.on("listening", () => {
  process.send?.({ port: (server.address() as { port: number }).port });
});
process.on("message", (m: { send?: number; count?: boolean }) => {
  if (m.count === true) process.send?.({ count: server.clients.size });
  if (m.send !== undefined) {
    const frame = Buffer.alloc(m.send, 1);
    for (const c of server.clients) c.send(frame);
  }
});
process.on("disconnect", () => process.exit(0));
