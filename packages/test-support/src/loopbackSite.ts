/**
 * A tiny HTTP server on 127.0.0.1 serving a fixed set of files from memory, for pages the
 * browser tests load. `http://127.0.0.1` is a secure context, so WebCrypto
 * (`crypto.subtle`) is available to the page, as on an HTTPS site.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { extname } from "node:path";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".png": "image/png",
};

/** URL path (starting with "/") → file content. */
export type SiteFiles = Record<string, string | Uint8Array>;

export interface LoopbackSite {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  origin: string;
  /** Paths requested so far, in order (what the page actually loaded). */
  requested: string[];
  close(): Promise<void>;
}

/**
 * Serves `files` on a port the OS picks; anything else is 404. "/" serves "/index.html".
 * @example const site = await serveLoopback({ "/index.html": "<p>hi</p>" });
 */
export async function serveLoopback(files: SiteFiles): Promise<LoopbackSite> {
  const requested: string[] = [];
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    requested.push(path);
    const key = path === "/" ? "/index.html" : path;
    const body = files[key];
    if (body === undefined || req.method !== "GET") {
      res.writeHead(404, { "content-type": "text/plain" }).end(`not found: ${path}`);
      return;
    }
    const type = CONTENT_TYPES[extname(key)] ?? "application/octet-stream";
    res.writeHead(200, { "content-type": type, "cache-control": "no-store" }).end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requested,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
