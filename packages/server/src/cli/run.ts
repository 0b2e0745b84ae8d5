/**
 * `kalandrad start`: loads the configuration, starts the daemon and installs the signal
 * handlers. SIGTERM/SIGINT drain and exit 0 (a hard deadline of drain_timeout_ms + 5 s
 * exits 1 if draining hangs); SIGHUP re-reads the file and environment and applies what
 * may change at run time (server.log_level, [limits], ...) and re-reads the TLS certificate
 * files; an invalid reload keeps the running configuration and logs why (the certificate is
 * re-read all the same: a renewal is not held back by an unrelated mistake in the file).
 */
import { format } from "node:util";
import { formatIssues, loadConfig } from "../config/load.js";
import { type CoreKind, Daemon } from "../runtime/node/daemon.js";
import { createLogger } from "../runtime/node/logger.js";

export async function runDaemon(configPath: string | undefined, core: CoreKind): Promise<void> {
  const r = loadConfig(configPath);
  if (!r.ok) {
    process.stderr.write(
      `invalid configuration${configPath ? ` in ${configPath}` : ""}:\n${formatIssues(r.issues)}\n`,
    );
    process.exit(1);
  }
  const log = createLogger(r.config.server.log_level);
  // The WebTransport library prints its optional-quiche probe with console.log/error (stack
  // traces on stdout); keep stdout pure JSON lines by routing console output into the log.
  for (const name of ["log", "info", "warn", "error"] as const) {
    console[name] = (...args: unknown[]) =>
      log.debug({ source: "console" }, format(...args).split("\n")[0] ?? "");
  }
  let daemon: Daemon;
  try {
    daemon = await Daemon.start({ config: r.config, log, core });
  } catch (e) {
    log.fatal({ err: e instanceof Error ? e.message : String(e) }, "start failed");
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const hard = setTimeout(() => {
      log.error({ signal }, "drain did not finish in time; exiting");
      process.exit(1);
    }, r.config.server.drain_timeout_ms + 5000);
    hard.unref();
    daemon.shutdown(signal).then(
      () => process.exit(0),
      (e) => {
        log.error({ err: e instanceof Error ? e.message : String(e) }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGHUP", () => {
    const next = loadConfig(configPath);
    if (!next.ok) {
      daemon.metrics.reloads.inc({ result: "invalid" });
      log.error(
        { issues: next.issues },
        `reload refused, keeping the running configuration:\n${formatIssues(next.issues)}`,
      );
      daemon.reloadCertificate();
      return;
    }
    const { needsRestart } = daemon.reload(next.config);
    if (needsRestart.length > 0)
      log.warn({ keys: needsRestart }, "changed keys take effect at the next start");
  });
}
