/**
 * The backup commands of `kalandrad` (issue 16, docs/storage.md "Backups and erasure",
 * docs/operations.md "Backups"):
 *
 *   kalandrad backup create DIR [--data D | --config F] [--key FILE]   online, beside a running hub
 *   kalandrad backup verify DIR [--key FILE]                           offline; --key opens every payload
 *   kalandrad restore DIR [--data D | --config F] [--key FILE] [--journal NEWER]... [--no-newer]
 *
 * `backup create` opens the data directory's LMDB environments read-only beside the running
 * hub (no admin API call: LMDB readers of another process never block the hub's writer).
 * It lowers its own CPU priority first (nice +10, inherited by the threads it starts), so on
 * a busy machine the hub's sequencing wins the cores and the backup takes longer instead.
 * The key file is `--key`, else `[backup] key_file`. Exit 1 on any refusal, naming it.
 */
import { getPriority, setPriority } from "node:os";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { createBackup } from "../storage/lmdb/backup/create.js";
import { BackupError } from "../storage/lmdb/backup/errors.js";
import { restoreBackup } from "../storage/lmdb/backup/restore.js";
import { verifyBackup } from "../storage/lmdb/backup/verify.js";
import { configOf } from "./adminCall.js";

interface Where {
  data?: string;
  config?: string;
  key?: string;
}

function keyFileOf(o: Where): string {
  const key = o.key ?? configOf(o.config).backup.key_file;
  if (key === "") {
    process.stderr.write("no backup key file: pass --key FILE or set [backup] key_file\n");
    process.exit(2);
  }
  return resolve(key);
}

function dataDirOf(o: Where): string {
  return resolve(o.data ?? configOf(o.config).database.path);
}

/** Runs `fn`; a BackupError (or any failure) is printed and exits 1. */
async function guarded(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    const code = e instanceof BackupError ? `${e.code}: ` : "";
    process.stderr.write(`${code}${(e as Error).message}\n`);
    process.exit(1);
  }
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

/** Yields the CPU to the hub: nice +10 (at most 19); a refusal changes nothing. */
function lowerPriority(): void {
  try {
    setPriority(Math.min(19, getPriority() + 10));
  } catch {
    // Not permitted here: the backup runs at the priority it was started with.
  }
}

export function registerBackupCommands(program: Command): void {
  const backup = program
    .command("backup")
    .description("online backups whose restore never brings back an erased message");

  backup
    .command("create <dir>")
    .description("back up the data directory into DIR (new or empty), beside a running hub")
    .option("--data <dir>", "data directory (default database.path of the configuration)")
    .option("-c, --config <file>", "configuration file")
    .option("--key <file>", "backup key file (default [backup] key_file; created when missing)")
    .action((dir: string, o: Where) =>
      guarded(async () => {
        lowerPriority();
        const dataDir = dataDirOf(o);
        const keyFile = keyFileOf(o);
        const hubKey = o.config === undefined ? "" : configOf(o.config).server.hub_key;
        const started = Date.now();
        const r = await createBackup({
          dataDir,
          hubKeyPath: hubKey !== "" ? resolve(hubKey) : join(dataDir, "hub-key.pem"),
          out: dir,
          keyFile,
        });
        if (r.keyCreated) {
          process.stderr.write(
            `created the backup key file ${keyFile}: keep a copy apart from the backups; no backup restores without it\n`,
          );
        }
        const rooms = r.manifest.envs.reduce((n, e) => n + Object.keys(e.rooms).length, 0);
        process.stdout.write(
          `backup ${r.manifest.id} written to ${resolve(dir)}: ${rooms} rooms, ${mb(r.bytes)} MB, ` +
            `${r.manifest.journal_entries} erasures in its journal, ${Date.now() - started} ms\n`,
        );
      }),
    );

  backup
    .command("verify <dir>")
    .description("check a backup offline; with --key also open every sealed key and payload")
    .option("--key <file>", "backup key file (deep check)")
    .action((dir: string, o: { key?: string }) =>
      guarded(async () => {
        const r = await verifyBackup(dir, o.key === undefined ? {} : { keyFile: resolve(o.key) });
        process.stdout.write(
          `backup ${r.manifest.id} ok: ${r.rooms} rooms, ${Object.keys(r.manifest.files).length} files` +
            (r.deep
              ? `, ${r.framesOpened} payloads opened with their keys\n`
              : " (without --key: sealed contents not opened)\n"),
        );
      }),
    );

  program
    .command("restore <dir>")
    .description("restore backup DIR into an empty data directory, applying newer erasure journals")
    .option("--data <dir>", "data directory to create (default database.path of the configuration)")
    .option("-c, --config <file>", "configuration file")
    .option("--key <file>", "backup key file (default [backup] key_file)")
    .option("--journal <dir...>", "newer backups whose erasure journals apply too")
    .option("--no-newer", "do not look for newer backups beside DIR")
    .action((dir: string, o: Where & { journal?: string[]; newer: boolean }) =>
      guarded(async () => {
        const r = await restoreBackup({
          from: dir,
          into: dataDirOf(o),
          keyFile: keyFileOf(o),
          journals: o.journal ?? [],
          discover: o.newer,
        });
        process.stdout.write(
          `restored backup ${r.manifest.id} into ${dataDirOf(o)}; erasure journals of ${r.journalsFrom.join(", ")} ` +
            `applied (${r.erased} messages erased since the backup)\n`,
        );
      }),
    );
}
