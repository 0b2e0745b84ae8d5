/**
 * The operator's HTTP listener: /healthz (the process is alive), /readyz (accepting
 * sessions: storage open, listener bound, not draining) and /metrics (Prometheus text
 * format; behind a bearer token when monitoring.admin_token is set).
 */
import { timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

export interface MonitoringOptions {
  host: string;
  port: number;
  registry: Registry;
  ready(): boolean;
  adminToken(): string;
}

function tokenOk(header: string | undefined, token: string): boolean {
  if (token === "") return true;
  const given = Buffer.from(header?.startsWith("Bearer ") ? header.slice(7) : "");
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

export async function startMonitoring(
  o: MonitoringOptions,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405).end();
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      const ready = o.ready();
      res
        .writeHead(ready ? 200 : 503, { "content-type": "text/plain" })
        .end(ready ? "ready\n" : "not ready\n");
    } else if (path === "/metrics") {
      if (!tokenOk(req.headers.authorization, o.adminToken())) {
        res.writeHead(401, { "www-authenticate": "Bearer" }).end();
        return;
      }
      o.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": o.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const addr = server.address();
  return { server, port: typeof addr === "object" && addr ? addr.port : o.port };
}
