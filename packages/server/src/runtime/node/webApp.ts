/**
 * The web app's side of the WebSocket listener (`web.static_dir`, docs/client.md "The web
 * app"): its static files, and `/.well-known/kalandra.json`, what the page needs to reach
 * this hub — the hub key its frames are verified against, the WebSocket path, and how users
 * sign in (the development authenticator, or the OIDC issuer and client id).
 *
 * The page comes from the hub's own origin, so the key it reads here is as trustworthy as
 * the page itself; the app pins it in its device store on first use (apps/web).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Clock, systemClock, toHex } from "@kalandra/proto";
import type { Config } from "../../config/schema.js";
import { HttpRateLimit } from "./httpRateLimit.js";
import { staticFiles } from "./staticFiles.js";
import { WS_PATH } from "./wsTransport.js";

/** Where the page reads the hub's settings. */
export const APP_SETTINGS_PATH = "/.well-known/kalandra.json";

/** What `/.well-known/kalandra.json` holds (apps/web/src/settings.ts reads it). */
export interface AppSettings {
  hubPublicKey: string;
  websocketPath: string;
  domain: string;
  auth: {
    methods: string[];
    /** `userClaim`: the token claim that names the user (`<claim>@<domain>`). */
    oidc?: { issuer: string; clientId: string; userClaim: string };
  };
}

export function appSettings(config: Config, hubPublicKey: Uint8Array): AppSettings {
  const oidc = config.auth.methods.includes("oidc")
    ? {
        issuer: config.auth.oidc_issuer,
        clientId: config.auth.oidc_audience,
        userClaim: config.auth.oidc_user_claim,
      }
    : undefined;
  return {
    hubPublicKey: toHex(hubPublicKey),
    websocketPath: WS_PATH,
    domain: config.server.domain,
    auth: { methods: [...config.auth.methods], ...(oidc ? { oidc } : {}) },
  };
}

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The HTTP handler for the WebSocket listener's plain requests: the app settings and the
 * static files of `config.web.static_dir`, each address rate limited (httpRateLimit.ts).
 * Rejects when that directory has no index.html.
 */
export async function webAppHandler(
  config: Config,
  hubPublicKey: Uint8Array,
  clock: Clock = systemClock,
): Promise<HttpHandler> {
  const settings = JSON.stringify(appSettings(config, hubPublicKey));
  const issuer = config.auth.methods.includes("oidc") ? originOf(config.auth.oidc_issuer) : [];
  const files = await staticFiles({ root: config.web.static_dir, connectOrigins: issuer });
  const limit = new HttpRateLimit({
    ratePerSec: config.web.http_rate_per_ip,
    burst: config.web.http_burst_per_ip,
    clock,
  });
  return limit.wrap((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === APP_SETTINGS_PATH && (req.method === "GET" || req.method === "HEAD")) {
      res.writeHead(200, {
        "content-type": "application/json",
        "cache-control": "no-cache",
        "x-content-type-options": "nosniff",
      });
      res.end(req.method === "HEAD" ? undefined : settings);
      return;
    }
    files(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end();
    });
  });
}

function originOf(url: string): string[] {
  try {
    return [new URL(url).origin];
  } catch {
    return [];
  }
}
