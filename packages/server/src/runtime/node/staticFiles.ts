/**
 * Static files on the WebSocket listener's HTTP port (`web.static_dir`): the web app's
 * built files, so a person opens `http://127.0.0.1:4480` and talks to the hub on the same
 * origin (docs/configuration.md "web").
 *
 * Rules: GET and HEAD only (405 otherwise); "/" is `index.html`; a path is decoded once and
 * refused (404, never 400 with details) when it holds a NUL, a backslash or a `..` or `.`
 * segment, or when its real path (symlinks followed) leaves the directory; only regular
 * files are served. Every answer carries `nosniff`; HTML also gets a Content-Security-Policy
 * that lets the page talk to its own origin (and the OIDC issuer, when configured) only.
 * A failure answers 404/500 and never reaches the hub.
 */
import { readFile, realpath, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, sep } from "node:path";

/** Largest file served (the app's bundle is far smaller; a stray huge file is not read). */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".woff2": "font/woff2",
  ".webmanifest": "application/manifest+json",
};

export interface StaticFilesOptions {
  /** The directory served; must hold `index.html`. */
  root: string;
  /** Origins the page may connect to besides its own (e.g. an OIDC issuer). */
  connectOrigins?: readonly string[];
}

export type StaticHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * Checks the directory (it must hold `index.html`) and returns the request handler.
 * Throws a plain Error naming the directory when it does not.
 */
export async function staticFiles(o: StaticFilesOptions): Promise<StaticHandler> {
  let root: string;
  try {
    root = await realpath(o.root);
    if (!(await stat(join(root, "index.html"))).isFile()) throw new Error("not a file");
  } catch {
    throw new Error(
      `web.static_dir ${JSON.stringify(o.root)} has no index.html (build the app: pnpm --filter @kalandra/web build)`,
    );
  }
  const csp = contentSecurityPolicy(o.connectOrigins ?? []);
  return async (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" });
      res.end("method not allowed\n");
      return;
    }
    const file = await resolveFile(root, req.url ?? "/");
    const body = file === undefined ? undefined : await readSmall(file);
    if (file === undefined || body === undefined) {
      res.writeHead(404, { "content-type": "text/plain", "x-content-type-options": "nosniff" });
      res.end("not found\n");
      return;
    }
    const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? "application/octet-stream";
    res.writeHead(200, {
      "content-type": type,
      "content-length": body.length,
      "x-content-type-options": "nosniff",
      "cache-control": "no-cache",
      "referrer-policy": "no-referrer",
      ...(type.startsWith("text/html")
        ? { "content-security-policy": csp, "x-frame-options": "DENY" }
        : {}),
    });
    res.end(req.method === "HEAD" ? undefined : body);
  };
}

/** The file a URL names inside `root` (a real path), or undefined when it names none. */
export async function resolveFile(root: string, url: string): Promise<string | undefined> {
  let path: string;
  try {
    path = decodeURIComponent(new URL(url, "http://x").pathname);
  } catch {
    return undefined; // malformed escapes
  }
  if (path.includes("\0") || path.includes("\\")) return undefined;
  const segments = path.split("/").filter((s) => s !== "");
  if (segments.some((s) => s === ".." || s === ".")) return undefined;
  if (segments.length === 0) segments.push("index.html");
  try {
    const real = await realpath(join(root, ...segments));
    if (!real.startsWith(root + sep)) return undefined; // a symlink out of the directory
    return (await stat(real)).isFile() ? real : undefined;
  } catch {
    return undefined;
  }
}

async function readSmall(file: string): Promise<Buffer | undefined> {
  try {
    if ((await stat(file)).size > MAX_FILE_BYTES) return undefined;
    return await readFile(file);
  } catch {
    return undefined;
  }
}

function contentSecurityPolicy(connectOrigins: readonly string[]): string {
  // 'self' covers ws:/wss: to the same host and port in current browsers (CSP level 3).
  const connect = ["'self'", ...connectOrigins].join(" ");
  return [
    "default-src 'self'",
    `connect-src ${connect}`,
    // blob: URLs are how the web app shows an attachment it decrypted itself (issue 17).
    "img-src 'self' data: blob:",
    "style-src 'self'",
    "script-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}
