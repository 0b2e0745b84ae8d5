/**
 * Loading kalandrad's configuration: defaults ← TOML file (optional) ← environment
 * (`KALANDRA_<SECTION>__<KEY>`, e.g. `KALANDRA_LIMITS__MAX_CONNECTIONS=50`). Validation
 * reports every problem with the dotted key it concerns, so an operator fixes them all
 * in one go; the CLI prints them and exits non-zero.
 */
import { readFileSync } from "node:fs";
import { parse as parseToml } from "smol-toml";
import { checkPeers, federationIssues } from "./federation.js";
import {
  type Config,
  defaultConfig,
  type Field,
  fields,
  type SectionName,
  schema,
} from "./schema.js";

export interface ConfigIssue {
  /** Dotted key (`limits.max_connections`), or the file/variable name for whole-input problems. */
  key: string;
  problem: string;
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; issues: ConfigIssue[] };

export const ENV_PREFIX = "KALANDRA_";

function describe(v: unknown): string {
  return typeof v === "string"
    ? JSON.stringify(v)
    : Array.isArray(v)
      ? "an array"
      : `${typeof v} ${String(v)}`;
}

/** Checks one value against its field; returns the normalised value or a problem text. */
export function checkValue(field: Field, value: unknown): { value: unknown } | { problem: string } {
  switch (field.type) {
    case "int": {
      const n = typeof value === "bigint" ? Number(value) : value;
      if (typeof n !== "number" || !Number.isInteger(n))
        return { problem: `expected an integer, got ${describe(value)}` };
      if (field.min !== undefined && n < field.min)
        return { problem: `must be at least ${field.min}, got ${n}` };
      if (field.max !== undefined && n > field.max)
        return { problem: `must be at most ${field.max}, got ${n}` };
      return { value: n };
    }
    case "bool":
      return typeof value === "boolean"
        ? { value }
        : { problem: `expected true or false, got ${describe(value)}` };
    case "string":
      return typeof value === "string"
        ? { value }
        : { problem: `expected a string, got ${describe(value)}` };
    case "enum":
      return typeof value === "string" && field.values?.includes(value)
        ? { value }
        : {
            problem: `expected one of ${field.values?.map((v) => JSON.stringify(v)).join(", ")}, got ${describe(value)}`,
          };
    case "string[]": {
      if (!Array.isArray(value) || !value.every((v) => typeof v === "string"))
        return { problem: `expected an array of strings, got ${describe(value)}` };
      const unknown = value.find((v) => field.values !== undefined && !field.values.includes(v));
      return unknown === undefined
        ? { value: [...value] }
        : {
            problem: `unknown value ${JSON.stringify(unknown)} (known: ${field.values?.map((v) => JSON.stringify(v)).join(", ")})`,
          };
    }
    case "peers":
      return checkPeers(value);
    case "address": {
      if (typeof value !== "string")
        return { problem: `expected "host:port", got ${describe(value)}` };
      if (value === "") return { value };
      const parsed = parseAddress(value);
      return parsed
        ? { value }
        : { problem: `expected "host:port" with a port in 0..65535, got ${JSON.stringify(value)}` };
    }
  }
}

/** Splits "host:port" (IPv6 as "[::1]:4433"); undefined when malformed. */
export function parseAddress(s: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: (m[1] ?? m[2]) as string, port };
}

/** True for 127.0.0.0/8, ::1 and localhost: a listener only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * `[auth]` rules (DESIGN §10): at least one method; `"dev"` lets users name themselves,
 * so it is refused unless every listener (WebTransport, WebSocket, monitoring and admin)
 * is on loopback, where only this machine's users can reach the hub.
 */
function authIssues(c: Config): ConfigIssue[] {
  if (c.auth.methods.length === 0) {
    return [{ key: "auth.methods", problem: "needs at least one method" }];
  }
  if (c.auth.methods.includes("oidc") && c.auth.oidc_issuer === "") {
    return [{ key: "auth.methods", problem: '"oidc" needs auth.oidc_issuer (and its other keys)' }];
  }
  if (!c.auth.methods.includes("dev")) return [];
  const listeners = {
    "server.listen": c.server.listen,
    "server.websocket_listen": c.server.websocket_listen,
    "monitoring.listen": c.monitoring.listen,
  };
  const issues: ConfigIssue[] = [];
  for (const [key, value] of Object.entries(listeners)) {
    const a = parseAddress(value);
    if (a === undefined || isLoopback(a.host)) continue;
    issues.push({
      key: "auth.methods",
      problem: `"dev" lets users name themselves, so every listener must be on loopback, but ${key} is ${value}: set auth.methods = ["enrollment"] (or "oidc"), or listen on 127.0.0.1`,
    });
  }
  return issues;
}

/** Parses an environment string as the field's type (arrays are comma-separated). */
function fromEnv(field: Field, raw: string): unknown {
  switch (field.type) {
    case "int":
      return /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
    case "bool":
      return raw === "true" ? true : raw === "false" ? false : raw;
    case "string[]":
      return raw.trim() === "" ? [] : raw.split(",").map((s) => s.trim());
    case "peers":
      try {
        return JSON.parse(raw);
      } catch {
        return raw;
      }
    default:
      return raw;
  }
}

/** Validates a parsed TOML document plus environment overrides into a Config. */
export function buildConfig(
  doc: Record<string, unknown>,
  env: Record<string, string | undefined> = {},
): ConfigResult {
  const issues: ConfigIssue[] = [];
  const config = defaultConfig() as unknown as Record<string, Record<string, unknown>>;
  const sections = schema as Record<string, Record<string, Field>>;
  for (const [section, body] of Object.entries(doc)) {
    const keys = sections[section];
    if (!keys) {
      issues.push({
        key: section,
        problem: `unknown section [${section}] (known: ${Object.keys(schema).join(", ")})`,
      });
      continue;
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      issues.push({ key: section, problem: "expected a table" });
      continue;
    }
    for (const [key, value] of Object.entries(body)) {
      const field = keys[key];
      if (!field) {
        issues.push({
          key: `${section}.${key}`,
          problem: `unknown key (known: ${Object.keys(keys).join(", ")})`,
        });
        continue;
      }
      const r = checkValue(field, value);
      if ("problem" in r) issues.push({ key: `${section}.${key}`, problem: r.problem });
      else (config[section] as Record<string, unknown>)[key] = r.value;
    }
  }
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || raw === undefined) continue;
    const rest = name.slice(ENV_PREFIX.length);
    const sep = rest.indexOf("__");
    if (sep < 0) continue; // other KALANDRA_* variables (e.g. KALANDRA_LOG) are not config
    const section = rest.slice(0, sep).toLowerCase();
    const key = rest.slice(sep + 2).toLowerCase();
    const field = sections[section]?.[key];
    if (!field) {
      issues.push({ key: name, problem: `no configuration key ${section}.${key}` });
      continue;
    }
    const r = checkValue(field, fromEnv(field, raw));
    if ("problem" in r)
      issues.push({ key: `${section}.${key}`, problem: `${r.problem} (from ${name})` });
    else (config[section] as Record<string, unknown>)[key] = r.value;
  }
  const c = config as unknown as Config;
  if ((c.tls.cert === "") !== (c.tls.key === "")) {
    issues.push({
      key: c.tls.cert === "" ? "tls.cert" : "tls.key",
      problem: "tls.cert and tls.key must be set together",
    });
  }
  const ws = parseAddress(c.server.websocket_listen);
  if (ws && !isLoopback(ws.host) && c.tls.cert === "" && !c.server.websocket_plaintext) {
    issues.push({
      key: "server.websocket_listen",
      problem:
        "a non-loopback WebSocket listener needs tls.cert/tls.key (wss), or server.websocket_plaintext = true",
    });
  }
  if (c.web.static_dir !== "" && ws === undefined) {
    issues.push({
      key: "web.static_dir",
      problem: "the web app is served on the WebSocket listener: set server.websocket_listen",
    });
  }
  issues.push(...authIssues(c));
  issues.push(...federationIssues(c));
  if (c.limits.connection_burst < 1 || c.limits.device_burst < 1) {
    issues.push({ key: "limits", problem: "bursts must be at least 1" });
  }
  issues.push(...oidcIssues(c));
  return issues.length > 0 ? { ok: false, issues } : { ok: true, config: c };
}

/** The `auth.oidc_*` keys hold together: an issuer, an audience and one key source. */
function oidcIssues(c: Config): ConfigIssue[] {
  const a = c.auth;
  const any = [a.oidc_issuer, a.oidc_audience, a.oidc_jwks_url, a.oidc_jwks_file].some(
    (v) => v !== "",
  );
  if (!any) return [];
  const out: ConfigIssue[] = [];
  const need = (key: "oidc_issuer" | "oidc_audience") => {
    if (a[key] === "") out.push({ key: `auth.${key}`, problem: "required for OpenID Connect" });
  };
  need("oidc_issuer");
  need("oidc_audience");
  if ((a.oidc_jwks_url === "") === (a.oidc_jwks_file === "")) {
    out.push({
      key: "auth.oidc_jwks_url",
      problem: "set exactly one of auth.oidc_jwks_url and auth.oidc_jwks_file",
    });
  }
  if (a.oidc_jwks_url !== "") {
    let url: URL | undefined;
    try {
      url = new URL(a.oidc_jwks_url);
    } catch {}
    const host = url?.hostname.replace(/^\[(.*)\]$/, "$1");
    if (
      !url ||
      !(url.protocol === "https:" || (url.protocol === "http:" && isLoopback(host ?? "")))
    ) {
      out.push({
        key: "auth.oidc_jwks_url",
        problem: `expected an https:// URL (http:// only on loopback), got ${JSON.stringify(a.oidc_jwks_url)}`,
      });
    }
  }
  if (a.oidc_user_claim === "")
    out.push({ key: "auth.oidc_user_claim", problem: "must not be empty" });
  return out;
}

/** Reads `path` (when given) and the environment; never throws for bad input. */
export function loadConfig(
  path: string | undefined,
  env: Record<string, string | undefined> = process.env,
): ConfigResult {
  let doc: Record<string, unknown> = {};
  if (path !== undefined) {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      return {
        ok: false,
        issues: [
          { key: path, problem: `cannot read the file: ${(e as NodeJS.ErrnoException).code ?? e}` },
        ],
      };
    }
    try {
      doc = parseToml(text) as Record<string, unknown>;
    } catch (e) {
      return {
        ok: false,
        issues: [{ key: path, problem: `not valid TOML: ${(e as Error).message.split("\n")[0]}` }],
      };
    }
  }
  return buildConfig(doc, env);
}

/** Keys whose value differs between two configs, with a flag saying whether SIGHUP may apply it. */
export function diffConfig(
  a: Config,
  b: Config,
): { key: string; reloadable: boolean; secret: boolean }[] {
  const out: { key: string; reloadable: boolean; secret: boolean }[] = [];
  for (const { section, key, field } of fields()) {
    const x = (a[section] as Record<string, unknown>)[key];
    const y = (b[section] as Record<string, unknown>)[key];
    if (JSON.stringify(x) !== JSON.stringify(y)) {
      out.push({
        key: `${section}.${key}`,
        reloadable: field.reload === true,
        secret: field.secret === true,
      });
    }
  }
  return out;
}

/** The config with secrets replaced, for logs and `validate-config` output. */
export function redacted(c: Config): Config {
  const copy = structuredClone(c) as unknown as Record<SectionName, Record<string, unknown>>;
  for (const { section, key, field } of fields()) {
    if (field.secret && copy[section][key] !== "") copy[section][key] = "<redacted>";
  }
  return copy as unknown as Config;
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => `  ${i.key}: ${i.problem}`).join("\n");
}
