/**
 * `pnpm exec tsx tools/loadgen/main.ts [--rooms M] [--members N] [--rate R] [--seconds S] [--url U --cert-hash H --hub-key K]`
 *
 * Without --url it spawns its own kalandrad (temporary data directory). Prints progress
 * on stderr and one JSON object with the achieved rate and latency percentiles on stdout.
 */

import { parseArgs } from "node:util";
import { type TempDir, tempDir } from "@kalandra/test-support";
import { spawnHub } from "./hub.js";
import { runLoad } from "./loadgen.js";

const { values } = parseArgs({
  options: {
    rooms: { type: "string", default: "4" },
    members: { type: "string", default: "5" },
    rate: { type: "string", default: "200" },
    seconds: { type: "string", default: "10" },
    bytes: { type: "string", default: "100" },
    url: { type: "string" },
    "cert-hash": { type: "string" },
    "hub-key": { type: "string" },
    sync: { type: "string", default: "full" },
  },
});

const hex = (s: string | undefined): Uint8Array | undefined =>
  s ? Uint8Array.from(Buffer.from(s, "hex")) : undefined;
let dir: TempDir | undefined;
let hub: Awaited<ReturnType<typeof spawnHub>> | undefined;
let url = values.url;
let certHash: Uint8Array | undefined = hex(values["cert-hash"]);
let hubKey: Uint8Array | undefined = hex(values["hub-key"]);
if (url === undefined) {
  dir = tempDir("loadgen");
  hub = await spawnHub(dir.path, { KALANDRA_DATABASE__SYNC: values.sync ?? "full" });
  url = hub.url;
  certHash = hub.certHash;
  hubKey = hub.hubKey;
}
if (hubKey === undefined) throw new Error("--hub-key is required with --url");
try {
  const result = await runLoad({
    url,
    certHash,
    hubKey,
    rooms: Number(values.rooms),
    members: Number(values.members),
    rate: Number(values.rate),
    durationMs: Number(values.seconds) * 1000,
    messageBytes: Number(values.bytes),
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await hub?.stop();
  dir?.cleanup();
}
process.exit(0);
