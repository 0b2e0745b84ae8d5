/**
 * The package manifests: which packages are published, and that each public package's
 * published entry points (`publishConfig`, applied by `pnpm pack`) are its workspace entry
 * points compiled: `./src/X.ts` in the workspace is `./dist/X.js` with `./dist/X.d.ts` in
 * the tarball, and the `kalandra-dist` condition (how `pnpm kalandrad` runs the compiled
 * daemon inside the workspace) names that same file. An export or platform import added
 * to one side only fails here instead of in a consumer's install.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PUBLIC = ["proto", "client", "server"];

type Target = string | { [condition: string]: Target };
interface Manifest {
  name: string;
  private?: boolean;
  license?: string;
  files?: string[];
  sideEffects?: boolean | string[];
  exports?: Record<string, Target>;
  imports?: Record<string, Target>;
  bin?: Record<string, string>;
  dependencies?: Record<string, string>;
  publishConfig?: {
    exports?: Record<string, Target>;
    imports?: Record<string, Target>;
    bin?: Record<string, string>;
  };
}

const read = (dir: string): Manifest =>
  JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8")) as Manifest;

/** `./src/a/b.ts` → `./dist/a/b${ext}` (also with a `*` pattern). */
function compiled(target: string, ext: ".js" | ".d.ts"): string {
  const m = /^\.\/src\/(.+)\.ts$/.exec(target);
  if (m === null) throw new Error(`${target} is not a ./src/*.ts target`);
  return `./dist/${m[1]}${ext}`;
}

/** A workspace target tree without its kalandra-dist branches, compiled. */
function toDist(t: Target): Target {
  if (typeof t === "string") return compiled(t, ".js");
  return Object.fromEntries(
    Object.entries(t)
      .filter(([c]) => c !== "kalandra-dist")
      .map(([c, v]) => [c, toDist(v)]),
  );
}

function withoutDistBranch(t: Target): Target {
  if (typeof t === "string") return t;
  return Object.fromEntries(
    Object.entries(t)
      .filter(([c]) => c !== "kalandra-dist")
      .map(([c, v]) => [c, withoutDistBranch(v)]),
  );
}

describe.each(PUBLIC)("@kalandra/%s (published)", (name) => {
  const dir = `packages/${name}`;
  const pkg = read(dir);

  it("ships dist with its LICENSE (Apache-2.0) and README, and declares its side effects", () => {
    expect(pkg.private).toBeUndefined();
    expect(pkg.license).toBe("Apache-2.0");
    expect(pkg.files).toEqual(["dist"]);
    expect(pkg.sideEffects).toBeDefined();
    expect(readFileSync(join(root, dir, "LICENSE"), "utf8")).toContain(
      "Apache License\n                           Version 2.0",
    );
    expect(existsSync(join(root, dir, "README.md"))).toBe(true);
  });

  it("publishes each workspace export compiled, with its types", () => {
    const exports = pkg.exports ?? {};
    const published = pkg.publishConfig?.exports ?? {};
    expect(Object.keys(published).sort()).toEqual(
      [...Object.keys(exports), "./package.json"].sort(),
    );
    for (const [key, target] of Object.entries(exports)) {
      if (typeof target === "string") throw new Error(`${key}: no kalandra-dist condition`);
      const source = target.default as string;
      expect(target["kalandra-dist"], key).toBe(compiled(source, ".js"));
      expect(published[key], key).toEqual({
        types: compiled(source, ".d.ts"),
        default: compiled(source, ".js"),
      });
    }
  });

  it("publishes each platform import compiled, and kalandra-dist names the same files", () => {
    const imports = pkg.imports ?? {};
    const published = pkg.publishConfig?.imports ?? {};
    expect(Object.keys(published).sort()).toEqual(Object.keys(imports).sort());
    for (const [key, target] of Object.entries(imports)) {
      const dist = toDist(target);
      expect(published[key], key).toEqual(dist);
      if (typeof target !== "string") {
        expect(target["kalandra-dist"], key).toEqual(toDist(withoutDistBranch(target)));
      }
    }
  });

  it("does not depend on ts-mls: dist carries the patched copy (tools/build/vendorTsMls.ts)", () => {
    expect(pkg.dependencies?.["ts-mls"]).toBeUndefined();
  });
});

it("only proto, client and server are published; everything else is private", () => {
  const dirs = ["packages", "tests", "apps"]
    .filter((d) => existsSync(join(root, d)))
    .flatMap((d) =>
      readdirSync(join(root, d), { withFileTypes: true })
        .filter((e) => e.isDirectory() && existsSync(join(root, d, e.name, "package.json")))
        .map((e) => `${d}/${e.name}`),
    );
  const published = [...dirs, "tools", "."].filter((d) => read(d).private !== true);
  expect(published.sort()).toEqual(PUBLIC.map((p) => `packages/${p}`).sort());
});

it("the published kalandrad bin is the compiled CLI with a node shebang", () => {
  const server = read("packages/server");
  expect(server.publishConfig?.bin).toEqual({ kalandrad: "./dist/cli/main.js" });
  const main = readFileSync(join(root, "packages/server/src/cli/main.ts"), "utf8");
  expect(main.startsWith("#!/usr/bin/env node\n")).toBe(true);
});
