/**
 * How `kalandrad admin …` reaches a running hub (admin.ts, userAdmin.ts): the admin API's
 * URL and token from the options, the environment or the configuration, and one call that
 * prints the JSON answer (exit 1 when the hub refused).
 */
import type { Command } from "commander";
import { loadConfig, parseAddress } from "../config/load.js";
import { defaultConfig } from "../config/schema.js";

export interface Common {
  config?: string;
  url?: string;
  token?: string;
  operator?: string;
}

/** The configuration of `path`, or exit 1 naming it. */
export function configOf(path: string | undefined) {
  const r = loadConfig(path);
  if (!r.ok) {
    process.stderr.write(`invalid configuration${path ? ` in ${path}` : ""}\n`);
    process.exit(1);
  }
  return r.config;
}

/** Where the admin API is and the token to call it with. */
export function adminTarget(
  o: Common,
  env: NodeJS.ProcessEnv = process.env,
): { url: string; token: string } {
  const needConfig = o.url === undefined || (o.token === undefined && !env.KALANDRA_ADMIN_TOKEN);
  const config = needConfig ? configOf(o.config) : defaultConfig();
  let url = o.url;
  if (url === undefined) {
    const a = parseAddress(config.monitoring.listen);
    if (a === undefined) {
      process.stderr.write("monitoring.listen is empty: pass --url\n");
      process.exit(2);
    }
    const host = a.host === "0.0.0.0" ? "127.0.0.1" : a.host === "::" ? "[::1]" : a.host;
    url = `http://${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${a.port}`;
  }
  const token = o.token ?? env.KALANDRA_ADMIN_TOKEN ?? config.monitoring.admin_token;
  return { url: url.replace(/\/+$/, ""), token };
}

/** Calls the admin API and prints its JSON answer; exit 1 when the hub refused. */
export async function call(
  o: Common,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
): Promise<void> {
  const { url, token } = adminTarget(o);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== "") headers.authorization = `Bearer ${token}`;
  headers["x-kalandra-operator"] = o.operator ?? process.env.USER ?? "admin";
  let res: Response;
  try {
    res = await fetch(`${url}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (e) {
    process.stderr.write(`cannot reach ${url}: ${String((e as Error).message)}\n`);
    process.exit(1);
  }
  const text = await res.text();
  (res.ok ? process.stdout : process.stderr).write(text.endsWith("\n") ? text : `${text}\n`);
  if (!res.ok) process.exit(1);
}

/** The options every `admin` subcommand takes (configuration, URL, token, operator). */
export function withCommon(c: Command): Command {
  return c
    .option("-c, --config <file>", "configuration file (monitoring.listen, monitoring.admin_token)")
    .option("--url <url>", "admin API base URL (default http://<monitoring.listen>)")
    .option("--token <token>", "admin token (default $KALANDRA_ADMIN_TOKEN or the configuration)")
    .option("--operator <name>", "operator name written to the audit log (default $USER)");
}
