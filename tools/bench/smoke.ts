/**
 * `pnpm bench:smoke`: every bench suite in its short BENCH_QUICK form, each in its own
 * process, checking that its last line is a JSON object. CI runs this; `pnpm bench <suite>`
 * runs the full figures.
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const suites = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && !["run.ts", "smoke.ts"].includes(f) && !f.startsWith("_"))
  .map((f) => f.slice(0, -3))
  .sort();

let failed = 0;
for (const suite of suites) {
  const started = Date.now();
  const run = spawnSync(process.execPath, ["--import", "tsx", join(here, "run.ts"), suite], {
    env: { ...process.env, BENCH_QUICK: "1" },
    encoding: "utf8",
    timeout: 300_000,
  });
  const lines = (run.stdout ?? "").trim().split("\n");
  const last = lines[lines.length - 1] ?? "";
  let ok = run.status === 0;
  try {
    ok &&= typeof JSON.parse(last) === "object";
  } catch {
    ok = false;
  }
  const took = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`${ok ? "ok  " : "FAIL"} bench ${suite} (${took} s) ${ok ? last : ""}`);
  if (!ok) {
    failed++;
    console.log(run.stdout, run.stderr);
  }
}
console.log(`${suites.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
