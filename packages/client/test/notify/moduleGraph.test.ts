/**
 * The notification entry point must not pull in ts-mls or MLS tree code (issue 4). This
 * walks the static import graph from src/notify/index.ts — our TypeScript, the package's
 * `#platform/*` subpath imports, and every package entry it reaches in node_modules
 * (exports map, "node"/"import"/"default" conditions) — the way Node would load it.
 */
import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const pkgRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const entry = join(pkgRoot, "src/notify/index.ts");
const CONDITIONS = ["node", "import", "default"];

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
}

/** Runtime module specifiers: `import … from`, `export … from`, bare `import "x"`. Type-only ones are erased. */
export function staticImports(src: string): string[] {
  const out: string[] = [];
  const re = /(?:^|[;}\n])\s*(import|export)\s+(type\s+)?([^'";]*?\bfrom\s*)?['"]([^'"]+)['"]/g;
  for (const m of stripComments(src).matchAll(re)) {
    if (m[2] !== undefined) continue;
    if (m[1] === "export" && m[3] === undefined) continue;
    out.push(m[4] as string);
  }
  return out;
}

function pickExport(target: unknown): string | undefined {
  if (typeof target === "string") return target;
  if (Array.isArray(target)) return target.map(pickExport).find((x) => x !== undefined);
  if (target !== null && typeof target === "object") {
    for (const [cond, sub] of Object.entries(target)) {
      if (CONDITIONS.includes(cond)) {
        const r = pickExport(sub);
        if (r !== undefined) return r;
      }
    }
  }
  return undefined;
}

function resolvePackage(spec: string, fromDir: string): string {
  const parts = spec.split("/");
  const name = spec.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] as string);
  const sub = `.${spec.slice(name.length)}`;
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) {
      const real = realpathSync(candidate);
      const pj = JSON.parse(readFileSync(join(real, "package.json"), "utf8"));
      let target: string | undefined;
      if (pj.exports !== undefined) {
        const exp = pj.exports;
        const subpaths =
          typeof exp === "object" &&
          exp !== null &&
          !Array.isArray(exp) &&
          Object.keys(exp).some((k) => k.startsWith("."));
        target = pickExport(subpaths ? exp[sub] : sub === "." ? exp : undefined);
      } else {
        target = sub === "." ? (pj.module ?? pj.main ?? "index.js") : sub;
      }
      if (target === undefined) throw new Error(`${spec}: no export for ${sub}`);
      return resolveFile(join(real, target));
    }
    if (dirname(dir) === dir) throw new Error(`cannot resolve ${spec} from ${fromDir}`);
  }
}

/** A `#…` subpath import through the nearest package.json's "imports" (one `*` per pattern). */
function resolveImportsField(spec: string, fromDir: string): string {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const pjPath = join(dir, "package.json");
    if (existsSync(pjPath)) {
      const imports = JSON.parse(readFileSync(pjPath, "utf8")).imports ?? {};
      for (const [pattern, target] of Object.entries(imports)) {
        const [head, tail = ""] = pattern.split("*") as [string, string?];
        const exact = !pattern.includes("*");
        if (exact ? spec !== pattern : !(spec.startsWith(head) && spec.endsWith(tail))) continue;
        const star = exact ? "" : spec.slice(head.length, spec.length - tail.length);
        const picked = pickExport(target);
        if (picked !== undefined) return resolveFile(join(dir, picked.replace("*", star)));
      }
      throw new Error(`${spec}: not in ${pjPath} "imports"`);
    }
    if (dirname(dir) === dir) throw new Error(`cannot resolve ${spec} from ${fromDir}`);
  }
}

function resolveFile(p: string): string {
  for (const c of [
    p,
    p.replace(/\.js$/, ".ts"),
    `${p}.js`,
    `${p}.ts`,
    join(p, "index.js"),
    join(p, "index.ts"),
  ]) {
    if (existsSync(c) && statSync(c).isFile()) return realpathSync(c);
  }
  throw new Error(`cannot resolve file ${p}`);
}

export function moduleGraph(start: string): Set<string> {
  const seen = new Set<string>();
  const todo = [realpathSync(start)];
  while (todo.length > 0) {
    const file = todo.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    if (!/\.(m?[jt]s)$/.test(file)) continue;
    for (const spec of staticImports(readFileSync(file, "utf8"))) {
      if (spec.startsWith("node:") || builtinModules.includes(spec)) {
        seen.add(spec);
        continue;
      }
      todo.push(
        spec.startsWith(".")
          ? resolveFile(resolve(dirname(file), spec))
          : spec.startsWith("#")
            ? resolveImportsField(spec, dirname(file))
            : resolvePackage(spec, dirname(file)),
      );
    }
  }
  return seen;
}

describe("notify module graph", () => {
  it("parses runtime imports and skips type-only ones", () => {
    expect(
      staticImports(
        `import type { A } from "a";\nimport { b } from "./b.js";\nexport type { C } from "c";\nexport { d } from "d";\nimport "e";\n// import "f";\nexport const x = 1;`,
      ),
    ).toEqual(["./b.js", "d", "e"]);
  });

  it("reaches the ratchet, noble and cbor-x but never ts-mls or MLS code", () => {
    const graph = [...moduleGraph(entry)];
    const ours = graph.filter((f) => f.startsWith(join(pkgRoot, "src")));
    expect(ours).toContain(join(pkgRoot, "src/senderkeys/ratchet.ts"));
    expect(ours).toContain(join(pkgRoot, "src/platform/node/aead.ts")); // the Node condition
    expect(graph.some((f) => f.includes("@noble/ciphers") && f.endsWith("chacha.js"))).toBe(true);
    expect(graph.some((f) => f.includes("cbor-x"))).toBe(true);
    expect(graph.filter((f) => f.includes("ts-mls"))).toEqual([]);
    for (const banned of [
      "src/mls/",
      "src/state/",
      "src/client.ts",
      "src/crypto/",
      "src/senderkeys/epochSenderKeys.ts",
    ]) {
      expect(ours.filter((f) => f.includes(banned))).toEqual([]);
    }
    expect(graph.filter((f) => f.includes("cbor-extract"))).toEqual([]);
  });

  it("would notice ts-mls if it were imported (the walker follows package entries)", () => {
    const graph = [...moduleGraph(join(pkgRoot, "node_modules/ts-mls/dist/src/index.js"))];
    expect(graph.length).toBeGreaterThan(50);
    expect(graph.some((f) => f.endsWith("ts-mls/dist/src/ratchetTree.js"))).toBe(true);
  });
});
