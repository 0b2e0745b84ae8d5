/**
 * The browser build of this repository's code, inside a Node test: esbuild bundles an
 * entry with the conditions a browser bundler uses (`browser`, never `node`), so every
 * `#platform/*` import takes the web variant (@noble, WebCrypto), and the result is
 * imported here. The differential tests then hold the web platform to the Node
 * platform's answers, in one process.
 */
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const CACHE = join(PACKAGE_ROOT, "node_modules/.cache/kalandra-web-build");

const built = new Map<string, Promise<unknown>>();

/** `src/...` of this package bundled for browsers as an ES module, then imported. */
export function importWebBuild<T>(srcPath: string): Promise<T> {
  let p = built.get(srcPath);
  if (p === undefined) {
    p = (async () => {
      mkdirSync(CACHE, { recursive: true });
      const outfile = join(CACHE, `${srcPath.replace(/[^A-Za-z0-9]/g, "_")}.mjs`);
      const r = await build({
        entryPoints: [join(PACKAGE_ROOT, srcPath)],
        bundle: true,
        platform: "browser",
        conditions: ["browser"],
        format: "esm",
        outfile,
        metafile: true,
        logLevel: "silent",
      });
      const nodeVariants = Object.keys(r.metafile.inputs).filter((i) =>
        i.includes("/platform/node/"),
      );
      if (nodeVariants.length > 0) throw new Error(`browser build reached ${nodeVariants}`);
      return import(pathToFileURL(outfile).href);
    })();
    built.set(srcPath, p);
  }
  return p as Promise<T>;
}
