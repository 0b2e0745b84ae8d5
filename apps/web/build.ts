/**
 * Builds the web app into `dist/` (or the folder given as the first argument): the page,
 * its stylesheet and one ES module bundled by esbuild for browsers (the `browser` export
 * conditions of @kalandra/proto and @kalandra/client, so no Node module is bundled).
 * kalandrad serves the folder (`web.static_dir`). Prints the bundle's size.
 */
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));

/** Bundles the app into `outDir`; resolves with the bundle's path. */
export async function buildWebApp(outDir: string, o: { minify?: boolean } = {}): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const bundle = join(outDir, "app.js");
  await build({
    entryPoints: [join(here, "src", "main.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    conditions: ["browser"],
    outfile: bundle,
    minify: o.minify ?? true,
    sourcemap: true,
    legalComments: "linked",
    logLevel: "warning",
  });
  copyFileSync(join(here, "index.html"), join(outDir, "index.html"));
  copyFileSync(join(here, "style.css"), join(outDir, "style.css"));
  return bundle;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = resolve(process.argv[2] ?? join(here, "dist"));
  const bundle = await buildWebApp(out);
  const js = readFileSync(bundle);
  console.log(
    `apps/web: ${out} (app.js ${(js.length / 1024).toFixed(0)} KiB, ${(gzipSync(js).length / 1024).toFixed(0)} KiB gzipped)`,
  );
}
