/**
 * Last step of `pnpm build`: bundles the client's browser entries from the compiled
 * packages as an application's bundler would (esbuild, platform "browser", every
 * dependency included, minified) and prints their sizes. Fails when a bundle cannot be
 * built for the browser (a `node:` import or Node builtin on a browser path) or when the
 * notification decryptor passes its budget: a push handler loads it cold (issue 14: under
 * 60 KB gzipped).
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const KB = 1024;

interface Entry {
  name: string;
  file: string;
  /** Gzipped bytes the bundle must stay under. */
  budget?: number;
}

const ENTRIES: Entry[] = [
  { name: "@kalandra/client", file: "packages/client/dist/index.js" },
  {
    name: "@kalandra/client/notify",
    file: "packages/client/dist/notify/index.js",
    budget: 60 * KB,
  },
];

async function measure(e: Entry): Promise<{ raw: number; gzip: number }> {
  const out = await build({
    entryPoints: [join(root, e.file)],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    write: false,
    logLevel: "silent",
    // Workspace packages resolve to their dist, as they would from the tarballs.
    conditions: ["kalandra-dist"],
  });
  const code = out.outputFiles[0]?.contents ?? new Uint8Array();
  return { raw: code.length, gzip: gzipSync(code, { level: 9 }).length };
}

const kb = (n: number) => `${(n / KB).toFixed(1)} KB`.padStart(9);
console.log("browser builds (esbuild: platform browser, ESM, minified, dependencies bundled)");
let over = false;
for (const e of ENTRIES) {
  const { raw, gzip } = await measure(e);
  const budget = e.budget === undefined ? "" : `  (budget ${kb(e.budget).trim()} gzipped)`;
  console.log(`  ${e.name.padEnd(24)} ${kb(raw)} ${kb(gzip)} gzipped${budget}`);
  if (e.budget !== undefined && gzip > e.budget) {
    console.error(`${e.name}: ${gzip} bytes gzipped, over its budget of ${e.budget}`);
    over = true;
  }
}
if (over) process.exit(1);
