/**
 * `pnpm bench scale [--quick]` (issue 15): the hub at crowd scale, one section per part,
 * each a function `(quick) => Promise<Record<string, number | string>>` in its own file:
 *
 * - `e2e` (_scaleE2e.ts): messages per second under the p99 goal per transport, with the
 *   bare fan-out ceiling measured in the same run;
 * - `idle` (_scaleIdle.ts): idle sessions, memory per session, an active room's p99;
 * - `rooms` (_scaleRooms.ts): 10,000-member rooms end to end.
 *
 * A section whose file does not exist yet is reported as `<name>_section: "absent"`; one
 * that throws as `<name>_error`. BENCH_SCALE_SECTIONS=e2e,rooms runs only those. One JSON
 * object on the last line; BENCH_QUICK=1 (bench:smoke) runs every section in seconds.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

type Section = (quick: boolean) => Promise<Record<string, number | string>>;

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.env.BENCH_QUICK === "1";
const SECTIONS: readonly { name: string; file: string; fn: string }[] = [
  { name: "e2e", file: "_scaleE2e.ts", fn: "scaleE2e" },
  { name: "idle", file: "_scaleIdle.ts", fn: "scaleIdle" },
  { name: "rooms", file: "_scaleRooms.ts", fn: "scaleRooms" },
];
const only = process.env.BENCH_SCALE_SECTIONS?.split(",").filter(Boolean);

const out: Record<string, number | string | boolean> = {};
// A library's asynchronous throw (the WebTransport client's "Can not get http2 TLSSocket"
// on an overloaded hub) must not end the run without its JSON line: it is reported, and
// the section it hit fails by its own bounds.
process.on("uncaughtException", (e) => {
  process.stderr.write(`[scale] uncaught: ${e instanceof Error ? e.stack : e}\n`);
  out.uncaught_error = e instanceof Error ? e.message : String(e);
});
for (const s of SECTIONS) {
  if (only !== undefined && !only.includes(s.name)) continue;
  const path = join(here, s.file);
  if (!existsSync(path)) {
    out[`${s.name}_section`] = "absent";
    continue;
  }
  const started = performance.now();
  try {
    const mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    const fn = mod[s.fn] as Section | undefined;
    if (typeof fn !== "function") throw new Error(`${s.file} exports no ${s.fn}`);
    Object.assign(out, await fn(quick));
  } catch (e) {
    process.stderr.write(`[scale] section ${s.name} failed: ${e instanceof Error ? e.stack : e}\n`);
    out[`${s.name}_error`] = e instanceof Error ? e.message : String(e);
  }
  out[`${s.name}_section_s`] = Math.round((performance.now() - started) / 100) / 10;
}
out.quick = quick;
console.log(JSON.stringify(out));
// Sessions, workers and child processes of a section may hold the loop open.
process.exit(Object.keys(out).some((k) => k.endsWith("_error")) ? 1 : 0);
