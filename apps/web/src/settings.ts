/**
 * What the hub tells the page at `/.well-known/kalandra.json` (kalandrad's
 * runtime/node/webApp.ts): its key, the WebSocket path, how users sign in.
 */
export interface AppSettings {
  hubPublicKey: string;
  websocketPath: string;
  domain: string;
  auth: {
    methods: string[];
    oidc?: { issuer: string; clientId: string; userClaim: string };
  };
}

export class SettingsError extends Error {
  override readonly name = "SettingsError";
}

/** Checks the shape of the settings document; throws SettingsError naming what is wrong. */
export function parseSettings(v: unknown): AppSettings {
  const o = v as Partial<AppSettings> | null;
  if (typeof o !== "object" || o === null) throw new SettingsError("not an object");
  if (typeof o.hubPublicKey !== "string" || !/^[0-9a-f]{64}$/.test(o.hubPublicKey))
    throw new SettingsError("hubPublicKey: expected 64 hex digits");
  if (typeof o.websocketPath !== "string" || !o.websocketPath.startsWith("/"))
    throw new SettingsError("websocketPath: expected a path");
  if (typeof o.domain !== "string") throw new SettingsError("domain: expected a string");
  const methods = o.auth?.methods;
  if (!Array.isArray(methods) || !methods.every((m) => typeof m === "string"))
    throw new SettingsError("auth.methods: expected strings");
  return o as AppSettings;
}

export async function fetchSettings(origin = ""): Promise<AppSettings> {
  const res = await fetch(`${origin}/.well-known/kalandra.json`, { cache: "no-store" });
  if (!res.ok) throw new SettingsError(`the hub answered ${res.status}`);
  return parseSettings(await res.json());
}

/** The WebSocket URL of the hub that served this page. */
export function websocketUrl(s: AppSettings, loc: { protocol: string; host: string }): string {
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}${s.websocketPath}`;
}

export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
