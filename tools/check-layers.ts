/**
 * `pnpm test` runs this first: the layering rules of docs/architecture.md ("Folders and
 * what they may import"), checked over every package's src. Exits 1 with one line per
 * violation. Rules and allowlist: tools/layers/rules.ts.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { checkLayers, findingKey, type SourceFile } from "./layers/check.js";
import { ALLOWED, PACKAGES } from "./layers/rules.js";

const root = resolve(process.argv[2] ?? join(fileURLToPath(import.meta.url), "..", ".."));

function* walk(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== "node_modules") yield* walk(p);
    } else if (/\.(ts|mts|mjs|js)$/.test(e.name) && !e.name.endsWith(".d.ts")) {
      yield p;
    }
  }
}

// A package missing from the table would go unchecked without anyone noticing.
const unlisted = readdirSync(join(root, "packages"), { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(join(root, "packages", e.name, "src")))
  .map((e) => `packages/${e.name}/src`)
  .filter((src) => !PACKAGES.some((p) => p.src === src));
for (const src of unlisted) {
  console.error(`${src}: not in tools/layers/rules.ts PACKAGES; add it with its layers`);
}

const files: SourceFile[] = PACKAGES.flatMap((pkg) =>
  [...walk(join(root, pkg.src))].map((p) => ({
    path: relative(root, p).split(sep).join("/"),
    text: readFileSync(p, "utf8"),
  })),
);
const { unexpected, stale } = checkLayers(PACKAGES, files, ALLOWED);
for (const f of unexpected) {
  console.error(`${f.file}${f.line === undefined ? "" : `:${f.line}`}: ${f.rule}: ${f.detail}`);
}
for (const a of stale) {
  console.error(`tools/layers/rules.ts: allowed but no longer found, remove: ${findingKey(a)}`);
}
if (unexpected.length + stale.length + unlisted.length > 0) {
  console.error(
    `check-layers: ${unexpected.length} violation(s), ${stale.length} stale allowlist entr(ies), ` +
      `${unlisted.length} unlisted package(s); ` +
      "rules in docs/architecture.md, 'Folders and what they may import'",
  );
  process.exit(1);
}
console.log(`check-layers: ${files.length} modules in ${PACKAGES.length} packages, layering ok`);
