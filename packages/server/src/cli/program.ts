/**
 * `kalandrad`: the hub daemon's command line (commander program; `main.ts` runs it).
 *
 *   kalandrad start [--config FILE]          run the hub (SIGTERM/SIGINT drain, SIGHUP reload)
 *   kalandrad validate-config [--config F]   check a file (+ environment); exit 1 naming each problem
 *   kalandrad version                        print the version
 *   kalandrad gen-dev-cert [--out DIR]       write a development certificate, print its hash
 *   kalandrad migrate [--config F]           bring the data format up to date (storeCommands.ts)
 *   kalandrad admin reshard --shards N       move rooms to another shard count, offline (idem)
 *
 * Exit codes: 0 success, 1 invalid configuration or failed start, 2 usage error.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { toHex } from "@kalandra/proto";
import { Command, Option } from "commander";
import { renderConfigDocs, renderDefaultToml } from "../config/docs.js";
import { formatIssues, loadConfig, redacted } from "../config/load.js";
import { generateDevCertificate } from "../runtime/node/devCert.js";
import { registerModerationCommands } from "./admin.js";
import { registerBackupCommands } from "./backup.js";
import { runDaemon } from "./run.js";
import { registerStoreCommands } from "./storeCommands.js";

const here = dirname(fileURLToPath(import.meta.url));

export function version(): string {
  const pkg = JSON.parse(readFileSync(join(here, "../../package.json"), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

export function buildProgram(): Command {
  const program = new Command("kalandrad")
    .description("Kalandra hub: MLS group messaging sequencer over WebTransport")
    .exitOverride((err) => {
      process.exit(err.exitCode === 0 ? 0 : 2);
    })
    .showHelpAfterError();

  program
    .command("start")
    .description("run the hub in the foreground (logs JSON lines to stdout)")
    .option("-c, --config <file>", "TOML configuration file (optional: every key has a default)")
    .addOption(
      new Option("--core <kind>", "core answering frames")
        .choices(["hub", "echo"])
        .default("hub")
        .hideHelp(),
    )
    .option(
      "--migrate",
      "bring the data directory to this version's format first (kalandrad migrate)",
    )
    .action(async (opts: { config?: string; core: "hub" | "echo"; migrate?: boolean }) => {
      await runDaemon(opts.config, opts.core, opts.migrate === true);
    });

  program
    .command("validate-config")
    .description("check a configuration file and the KALANDRA_* environment; exit 1 on any problem")
    .option("-c, --config <file>", "TOML configuration file")
    .option("--print", "print the effective configuration (secrets redacted)")
    .action((opts: { config?: string; print?: boolean }) => {
      const r = loadConfig(opts.config);
      if (!r.ok) {
        process.stderr.write(
          `invalid configuration${opts.config ? ` in ${opts.config}` : ""}:\n${formatIssues(r.issues)}\n`,
        );
        process.exit(1);
      }
      process.stdout.write(`configuration ok${opts.config ? `: ${opts.config}` : " (defaults)"}\n`);
      if (opts.print) process.stdout.write(`${JSON.stringify(redacted(r.config), null, 2)}\n`);
    });

  program
    .command("version")
    .description("print the version")
    .action(() => {
      process.stdout.write(`kalandrad ${version()}\n`);
    });

  program
    .command("gen-dev-cert")
    .description(
      "write a self-signed ECDSA P-256 development certificate (valid < 14 days) and print its SHA-256",
    )
    .option("-o, --out <dir>", "directory for cert.pem and key.pem", ".")
    .option("--host <name...>", "DNS names / IPv4 addresses in the certificate", [
      "localhost",
      "127.0.0.1",
    ])
    .action((opts: { out: string; host: string[] }) => {
      const c = generateDevCertificate(opts.host);
      mkdirSync(opts.out, { recursive: true });
      writeFileSync(join(opts.out, "key.pem"), c.key, { mode: 0o600 });
      writeFileSync(join(opts.out, "cert.pem"), c.cert);
      process.stdout.write(
        `wrote ${join(opts.out, "cert.pem")} and ${join(opts.out, "key.pem")} (valid until ${c.notAfter.toISOString()})\n` +
          `sha-256 ${toHex(c.hash)}\n`,
      );
    });

  program
    .command("config-docs", { hidden: true })
    .description("print docs/configuration.md rendered from the schema")
    .action(() => {
      process.stdout.write(renderConfigDocs());
    });

  program
    .command("default-config")
    .description("print a TOML file holding every default, commented")
    .action(() => {
      process.stdout.write(renderDefaultToml());
    });

  registerModerationCommands(program);
  registerStoreCommands(program);
  registerBackupCommands(program);
  return program;
}
