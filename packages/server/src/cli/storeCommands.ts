/**
 * The offline data-directory commands of `kalandrad` (issue 16, docs/operations.md
 * "Upgrading" and "Re-sharding"):
 *
 *   kalandrad migrate [--config F | --data DIR]                      format → this version's
 *   kalandrad admin reshard --shards N [--config F | --data DIR]     move rooms to N shards
 *
 * Both take the data directory's lock, so they refuse while a hub (or another of them)
 * runs on it; exit 1 with the reason on any refusal or failure.
 */
import { resolve } from "node:path";
import type { Command } from "commander";
import { acquireDataLock } from "../runtime/node/datadir/dataLock.js";
import { migrateDataDir } from "../runtime/node/datadir/migrate.js";
import { reshardDataDir } from "../runtime/node/datadir/reshard.js";
import { DATA_FORMAT_VERSION } from "../storage/format.js";
import { configOf } from "./adminCall.js";

interface DirOptions {
  data?: string;
  config?: string;
}

const dataDir = (o: DirOptions) => resolve(o.data ?? configOf(o.config).database.path);
const say = (msg: string) => process.stdout.write(`${msg}\n`);

async function run(what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    process.stderr.write(`${what} failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}

function withDir(c: Command): Command {
  return c
    .option("-c, --config <file>", "configuration file (its database.path)")
    .option("--data <dir>", "data directory (default database.path of the configuration)");
}

export function registerStoreCommands(program: Command): void {
  withDir(
    program
      .command("migrate")
      .description(
        `bring a stopped hub's data directory to data format ${DATA_FORMAT_VERSION} (back it up first)`,
      ),
  ).action((o: DirOptions) =>
    run("migrate", async () => {
      const dir = dataDir(o);
      const lock = acquireDataLock(dir, "migrate");
      let r: Awaited<ReturnType<typeof migrateDataDir>>;
      try {
        r = await migrateDataDir(dir, { log: say });
      } finally {
        lock.release();
      }
      say(
        r.applied.length === 0
          ? `${dir} is at data format ${r.to}: nothing to migrate`
          : `${dir} migrated from data format ${r.from} to ${r.to} (${r.applied.length} steps)`,
      );
    }),
  );

  const admin = program.commands.find((c) => c.name() === "admin");
  if (admin === undefined)
    throw new Error("registerStoreCommands: register the admin commands first");
  withDir(
    admin
      .command("reshard")
      .description(
        "move every room of a stopped hub's data directory to N worker shards (offline)",
      ),
  )
    .requiredOption("--shards <n>", "the new shard count")
    .action((o: DirOptions & { shards: string }) =>
      run("reshard", async () => {
        const shards = Number(o.shards);
        const r = await reshardDataDir(dataDir(o), {
          shards,
          actor: `admin:${process.env.USER ?? "operator"}`,
          log: say,
        });
        say(JSON.stringify({ from: r.from, to: r.to, ms: r.ms, ...(r.stats ?? {}) }));
      }),
    );
}
