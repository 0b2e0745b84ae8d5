/**
 * A child process of the idle fleet (idleFleet.ts): opens its share of idle sessions when
 * told, reports, keeps them (pinging) until told to close, then exits.
 */
import { type IdleSessionOptions, IdleSessions } from "./idleSessions.js";

const send = (m: unknown) => process.send?.(m);
const sessions = new IdleSessions();
/** How often the parent hears how the sessions are kept (IdleHealth). */
const HEALTH_MS = 10_000;
setInterval(() => send({ kind: "health", health: sessions.health() }), HEALTH_MS).unref();
process.on("message", (m: { kind: string; options?: IdleSessionOptions }) => {
  if (m.kind === "open" && m.options) {
    sessions
      .open({ ...m.options, onProgress: (opened) => send({ kind: "progress", opened }) })
      .then(
        (report) => send({ kind: "opened", report }),
        (e: unknown) => {
          process.stderr.write(`idle worker: ${e instanceof Error ? e.stack : e}\n`);
          process.exit(1);
        },
      );
  } else if (m.kind === "close") {
    void sessions.close().finally(() => process.exit(0));
  }
});
// The parent gone: nothing left to hold the sessions for.
process.on("disconnect", () => process.exit(0));
