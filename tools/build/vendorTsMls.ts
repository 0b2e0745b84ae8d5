/**
 * Second step of `build` in packages that import ts-mls (client, server): copies the
 * patched ts-mls this workspace runs on (pnpm applies patches/ts-mls@1.6.4.patch in
 * node_modules) into `dist/vendor/ts-mls/` with its MIT licence, and points the package's
 * compiled imports of `ts-mls` and `ts-mls/<module>.js` at that copy. An npm consumer then
 * gets the same ts-mls behaviour (RFC fixes, O(log n) tree hashing) as the workspace,
 * without pnpm or a patch step; the published manifest no longer names ts-mls.
 *
 * Usage (from a package folder, after tsc): `tsx ../../tools/build/vendorTsMls.ts`
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, sep } from "node:path";

const pkgDir = process.cwd();
const dist = join(pkgDir, "dist");
const vendor = join(dist, "vendor", "ts-mls");

/** ts-mls's package root as this package resolves it (the pnpm store copy, patched). */
function tsMlsRoot(): string {
  const entry = createRequire(join(pkgDir, "package.json")).resolve("ts-mls");
  let dir = dirname(entry);
  while (!readdirSync(dir).includes("package.json")) dir = dirname(dir);
  return realpathSync(dir);
}

function* files(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else yield p;
  }
}

const root = tsMlsRoot();
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  version: string;
};
const patchFile = join(pkgDir, "../../patches", `ts-mls@${manifest.version}.patch`);
// pnpm keeps a patched package under a folder named with the patch's hash: vendoring the
// unpatched release would silently ship different MLS behaviour.
if (!root.includes("_patch_hash=")) {
  throw new Error(`ts-mls at ${root} is not the patched copy (expected pnpm's patch_hash)`);
}

mkdirSync(vendor, { recursive: true });
const src = join(root, "dist", "src");
for (const f of files(src)) {
  if (!f.endsWith(".js") && !f.endsWith(".d.ts")) continue; // maps point at absent sources
  const to = join(vendor, relative(src, f));
  mkdirSync(dirname(to), { recursive: true });
  cpSync(f, to);
}
cpSync(join(root, "LICENSE"), join(vendor, "LICENSE"));
cpSync(patchFile, join(vendor, "kalandra.patch"));
writeFileSync(
  join(vendor, "NOTICE.md"),
  `# ts-mls ${manifest.version} (vendored)\n\n` +
    `https://github.com/LukaJCB/ts-mls, MIT licence (LICENSE in this folder).\n` +
    `Kalandra ships it with its changes applied (kalandra.patch: RFC 9420 fixes, O(log n)\n` +
    `tree hashing, a cheaper secret tree per commit); see docs/performance.md in the\n` +
    `Kalandra repository.\n`,
);

// `"ts-mls"` and `"ts-mls/<module>.js"` in the package's compiled code and declarations.
const SPECIFIER = /((?:from|import)\s*\(?\s*)(["'])ts-mls(\/[^"']+)?\2/g;
let rewritten = 0;
for (const f of files(dist)) {
  if (f.startsWith(vendor + sep) || !(f.endsWith(".js") || f.endsWith(".d.ts"))) continue;
  const text = readFileSync(f, "utf8");
  const out = text.replace(
    SPECIFIER,
    (_m, lead: string, quote: string, sub: string | undefined) => {
      let rel = relative(dirname(f), join(vendor, sub ? sub.slice(1) : "index.js"))
        .split(sep)
        .join("/");
      if (!rel.startsWith(".")) rel = `./${rel}`;
      return `${lead}${quote}${rel}${quote}`;
    },
  );
  if (out !== text) {
    writeFileSync(f, out);
    rewritten++;
  }
}
console.log(`ts-mls ${manifest.version} (patched) vendored; ${rewritten} files point at it`);
