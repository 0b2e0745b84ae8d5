/**
 * In-process kalandrad hubs that federate on loopback: each with its own data directory,
 * a hub key made before start (so peers can pin it in their config), and a WebSocket port
 * chosen before start (so peers can dial it).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { freePort, writeHubKey } from "@kalandra/test-support";
import { buildConfig } from "../../../src/config/load.js";
import type { Config, PeerConfig } from "../../../src/config/schema.js";
import { Daemon } from "../../../src/runtime/node/daemon.js";
import { createLogger } from "../../../src/runtime/node/logger.js";

export const ADMIN_TOKEN = "federation-test-token";

export interface HubSpec {
  domain: string;
  dir: string;
  keyPath: string;
  hubKeyHex: string;
  wsPort: number;
  monitoringPort: number;
}

export async function hubSpec(root: string, domain: string): Promise<HubSpec> {
  const dir = join(root, domain);
  mkdirSync(dir, { recursive: true });
  const keyPath = join(dir, "hub-key.pem");
  return {
    domain,
    dir,
    keyPath,
    hubKeyHex: writeHubKey(keyPath),
    wsPort: await freePort(),
    monitoringPort: await freePort(),
  };
}

export function peerOf(s: HubSpec): PeerConfig {
  return { domain: s.domain, url: `ws://127.0.0.1:${s.wsPort}/kalandra`, hub_key: s.hubKeyHex };
}

export function hubConfig(
  s: HubSpec,
  peers: HubSpec[],
  federation: Record<string, unknown> = {},
): Config {
  const r = buildConfig({
    server: {
      domain: s.domain,
      listen: "127.0.0.1:0",
      websocket_listen: `127.0.0.1:${s.wsPort}`,
      log_level: "fatal",
      hub_key: s.keyPath,
      shards: 1,
      shard_runtime: "in-process",
    },
    database: { path: join(s.dir, "data"), sync: "none" },
    monitoring: { listen: `127.0.0.1:${s.monitoringPort}`, admin_token: ADMIN_TOKEN },
    federation: {
      enabled: true,
      reconnect_min_ms: 50,
      reconnect_max_ms: 200,
      connect_timeout_ms: 2000,
      peers: peers.map(peerOf),
      ...federation,
    },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

export function startHub(config: Config): Promise<Daemon> {
  return Daemon.start({ config, log: createLogger("fatal") });
}

/** Records of the hub's audit chain (the admin API, as an operator reads them). */
export async function auditOf(
  s: HubSpec,
): Promise<{ kind: string; actor: string; detail: Record<string, unknown> }[]> {
  const r = await fetch(`http://127.0.0.1:${s.monitoringPort}/admin/audit?limit=1000`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  const body = (await r.json()) as {
    records?: { kind: string; actor: string; detail: Record<string, unknown> }[];
  };
  return body.records ?? [];
}

export async function metricsOf(s: HubSpec): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${s.monitoringPort}/metrics`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  return r.text();
}
