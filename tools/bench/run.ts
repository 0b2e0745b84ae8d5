/**
 * `pnpm bench <suite> [--quick]`: runs tools/bench/<suite>.ts. Each suite prints a JSON
 * object on its last line and measures its own baseline in the same process, so its
 * figure is a ratio that survives a noisy machine. `--quick` (or BENCH_QUICK=1) runs a
 * short smoke version, as CI does.
 */
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const suites = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts" && !f.startsWith("_"))
  .map((f) => f.slice(0, -3))
  .sort();

const [suite, ...rest] = process.argv.slice(2);
if (suite === undefined || suite === "--help") {
  console.log(`usage: pnpm bench <suite> [--quick]\nsuites: ${suites.join(", ")}`);
  process.exit(suite === undefined ? 1 : 0);
}
if (rest.includes("--quick")) process.env.BENCH_QUICK = "1";
const file = join(here, `${suite}.ts`);
if (!existsSync(file)) {
  console.error(`unknown bench suite "${suite}"; suites: ${suites.join(", ")}`);
  process.exit(1);
}
await import(pathToFileURL(file).href);
