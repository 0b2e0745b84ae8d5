/**
 * The baseline for `pnpm bench mls`: ts-mls 1.6.4 exactly as published, loaded next to
 * the patched copy the workspace installs (patches/ts-mls@1.6.4.patch), so that one
 * process measures upstream + default provider against patched + Kalandra provider.
 *
 * The installed (patched) package is copied to a cache directory under the OS temp dir
 * and the patch is reversed there with `patch -R`; its own dependencies (@hpke, @noble)
 * are symlinked from pnpm's store folders, so nothing in node_modules is written (one cache
 * per checkout, as the links point into its node_modules).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

type TsMls = typeof import("ts-mls");

const here = dirname(fileURLToPath(import.meta.url));
const patchFile = join(here, "..", "..", "patches", "ts-mls@1.6.4.patch");

export async function loadUpstreamTsMls(): Promise<TsMls> {
  // createRequire works under tsx and vitest alike (import.meta.resolve does not).
  const installedIndex = realpathSync(createRequire(import.meta.url).resolve("ts-mls"));
  const installed = dirname(dirname(dirname(installedIndex))); // …/ts-mls/dist/src/index.js
  const storeModules = dirname(installed); // …/.pnpm/ts-mls@…/node_modules
  const patch = readFileSync(patchFile);
  // Keyed by the store folder too: the cache links into that checkout's node_modules, so a
  // cache built by another worktree (since removed) must not be reused.
  const tag = createHash("sha256").update(patch).update(storeModules).digest("hex").slice(0, 16);
  const root = join(tmpdir(), `kalandra-ts-mls-upstream-${tag}`);
  const pkg = join(root, "node_modules", "ts-mls");
  if (!existsSync(join(root, "ready"))) {
    rmSync(root, { recursive: true, force: true });
    mkdirSync(join(root, "node_modules"), { recursive: true });
    cpSync(installed, pkg, { recursive: true, dereference: true });
    try {
      execFileSync("patch", ["-R", "-p1", "-s", "-d", pkg, "-i", patchFile]);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      // No `patch` binary: git can apply a patch outside a repository too.
      execFileSync("git", ["apply", "-R", "-p1", patchFile], { cwd: pkg });
    }
    // ts-mls's dependencies as the installed copy sees them: its store folder first,
    // then pnpm's hidden hoisting folder (where @noble/hashes comes from).
    const hoisted = dirname(dirname(storeModules)); // …/.pnpm
    for (const scope of ["@hpke", "@noble"]) {
      mkdirSync(join(root, "node_modules", scope), { recursive: true });
      for (const from of [join(storeModules, scope), join(hoisted, "node_modules", scope)]) {
        if (!existsSync(from)) continue;
        for (const name of readdirSync(from)) {
          const link = join(root, "node_modules", scope, name);
          if (!existsSync(link)) symlinkSync(realpathSync(join(from, name)), link);
        }
      }
    }
    mkdirSync(join(root, "ready"));
  }
  if (readFileSync(join(pkg, "dist", "src", "treeHash.js"), "utf8").includes("kalandra patch")) {
    throw new Error(`${pkg} still carries the Kalandra patch`);
  }
  return (await import(pathToFileURL(join(pkg, "dist", "src", "index.js")).href)) as TsMls;
}
