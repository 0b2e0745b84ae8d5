/**
 * The operator's HTTP listener: /healthz (liveness: the process answers), /readyz (every
 * readiness check passes, readiness.ts: a JSON body naming each check, 503 naming the
 * failing ones), /metrics (Prometheus text
 * format; behind a bearer token when monitoring.admin_token is set) and /admin/* (the
 * moderation API, moderation/adminApi.ts, which does its own authentication and audit).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import {
  type AdminRequest,
  type AdminRequestHead,
  type AdminResponse,
  tokenMatches,
} from "../../moderation/adminApi.js";
import type { ReadinessReport } from "./readiness.js";

/** Largest admin request body read (the API takes small JSON objects). */
const ADMIN_BODY_LIMIT = 64 * 1024;

export interface MonitoringOptions {
  host: string;
  port: number;
  registry: Registry;
  /** The readiness checks' answers (`/readyz`). */
  readiness(): Promise<ReadinessReport>;
  adminToken(): string;
  /**
   * Handles /admin/*; absent = 404 (no hub core to moderate). `refuse` checks the token
   * from the request's head, before its body is read.
   */
  admin?: {
    refuse(req: AdminRequestHead): Promise<AdminResponse | undefined>;
    handle(req: AdminRequest): Promise<AdminResponse>;
  };
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > ADMIN_BODY_LIMIT) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

async function serveAdmin(
  admin: NonNullable<MonitoringOptions["admin"]>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const send = (status: number, body: unknown, close = false): void => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    // Refused before its body was read: the connection goes, with whatever body is left.
    if (close) headers.connection = "close";
    res.writeHead(status, headers).end(`${JSON.stringify(body)}\n`);
    if (close) res.once("finish", () => req.socket.end());
  };
  let url: URL;
  try {
    url = new URL(req.url ?? "/", "http://admin.invalid");
  } catch {
    return send(400, { error: "bad_request", message: "malformed request path" }, true);
  }
  const head = {
    method: req.method ?? "GET",
    path: url.pathname,
    authorization: req.headers.authorization,
    remote: req.socket.remoteAddress,
  };
  const refused = await admin.refuse(head);
  if (refused !== undefined) return send(refused.status, refused.body, true);
  let body: unknown;
  try {
    const text = await readBody(req);
    body = text === undefined || text.trim() === "" ? undefined : JSON.parse(text);
  } catch (e) {
    return send(400, { error: "bad_request", message: String((e as Error).message) });
  }
  const operator = req.headers["x-kalandra-operator"];
  const r = await admin.handle({
    ...head,
    query: url.searchParams,
    operator: typeof operator === "string" ? operator : undefined,
    body,
  });
  send(r.status, r.body);
}

function tokenOk(header: string | undefined, token: string): boolean {
  if (token === "") return true;
  // Over SHA-256 digests: neither the token's bytes nor its length leak through timing.
  return tokenMatches(header, token);
}

export async function startMonitoring(
  o: MonitoringOptions,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path?.startsWith("/admin/")) {
      if (o.admin === undefined) {
        res.writeHead(404).end();
        return;
      }
      serveAdmin(o.admin, req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
      });
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405).end();
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      o.readiness().then(
        (r) => {
          const body = r.ready
            ? { status: "ready", checks: r.checks }
            : { status: "not_ready", failing: r.failing, checks: r.checks };
          res
            .writeHead(r.ready ? 200 : 503, { "content-type": "application/json" })
            .end(`${JSON.stringify(body)}\n`);
        },
        () => res.writeHead(500).end(),
      );
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
