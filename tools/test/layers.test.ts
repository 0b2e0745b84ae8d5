/**
 * The layering check catches what it is meant to catch: violations and cycles planted in a
 * small in-memory package, next to look-alikes it must leave alone.
 */
import { describe, expect, it } from "vitest";
import {
  type Allowed,
  checkLayers,
  checkPackage,
  type Finding,
  findingKey,
  type PackageLayers,
  type SourceFile,
} from "../layers/check.js";

const PKG: PackageLayers = {
  src: "pkg/src",
  layer: "core",
  overrides: { "runtime/": "runtime", "sim/": "deterministic", "entry.ts": "runtime" },
  clients: ["moderation/"],
};

const file = (path: string, text: string): SourceFile => ({ path: `pkg/src/${path}`, text });
const keys = (fs: Finding[]) =>
  fs.map((f) => `${f.rule} ${f.file.replace("pkg/src/", "")} ${f.detail}`);

describe("ambient effects and Node imports", () => {
  it("flags each one in a core module", () => {
    const findings = checkPackage(PKG, [
      file(
        "core/bad.ts",
        [
          'import { readFileSync } from "node:fs";',
          'import { randomBytes } from "node:crypto";',
          'import * as os from "os";',
          "export const a = Date.now();",
          "export const b = Math.random();",
          "export const c = setTimeout(() => {}, 1);",
          "export const d = process.env.X;",
          "export const e = globalThis.setInterval;",
          "export const f = new Date();",
          "export const g = performance.now();",
          'export const h = () => import("node:worker_threads");',
          "export const i = crypto.getRandomValues(new Uint8Array(4));",
          'export const j = fetch("https://example.org");',
        ].join("\n"),
      ),
    ]);
    expect(keys(findings).sort()).toEqual(
      [
        "ambient core/bad.ts Date",
        "ambient core/bad.ts crypto",
        "ambient core/bad.ts fetch",
        "ambient core/bad.ts Math.random",
        "ambient core/bad.ts performance",
        "ambient core/bad.ts process",
        "ambient core/bad.ts setInterval",
        "ambient core/bad.ts setTimeout",
        "node-import core/bad.ts node:crypto",
        "node-import core/bad.ts node:fs",
        "node-import core/bad.ts node:worker_threads",
        "node-import core/bad.ts os",
      ].sort(),
    );
    expect(findings.find((f) => f.detail === "Math.random")?.line).toBe(5);
  });

  it("leaves look-alikes alone: types, comments, strings, properties, shadows, pure crypto", () => {
    const findings = checkPackage(PKG, [
      file(
        "core/fine.ts",
        [
          'import { createHash, timingSafeEqual } from "node:crypto";',
          'import { isUtf8 } from "node:buffer";',
          'import type { Worker } from "node:worker_threads";',
          "// Date.now() and Math.random() in a comment",
          'export const s = "setTimeout(process.exit)";',
          "export type Handle = ReturnType<typeof setTimeout>;",
          "export interface Clock { Date: number; now(): Date }",
          "export const o = { process: 1, Date: 2 };",
          "export const p = (x: { process(): void }) => x.process();",
          "export function run(process: () => void) { process(); }",
          "queueMicrotask(() => {});",
          "export const r = (s: number) => new Date(s * 1000);",
          "export const q = [createHash, timingSafeEqual, isUtf8] as unknown as Worker;",
        ].join("\n"),
      ),
      file(
        "runtime/io.ts",
        'import { readFileSync } from "node:fs";\nexport const t = Date.now();',
      ),
      file("entry.ts", 'export { t } from "./runtime/io.js";\nexport const u = process.argv;'),
    ]);
    expect(keys(findings)).toEqual([]);
  });

  it("lets the deterministic layer use Node modules but not clocks or timers", () => {
    const findings = checkPackage(PKG, [
      file("sim/world.ts", 'import { mkdtempSync } from "node:fs";\nsetImmediate(() => {});'),
    ]);
    expect(keys(findings)).toEqual(["ambient sim/world.ts setImmediate"]);
  });
});

describe("imports between folders", () => {
  it("flags a core importing a runtime module or a client of the cores, even for a type", () => {
    const findings = checkPackage(PKG, [
      file("core/a.ts", 'import type { T } from "../runtime/io.js";\nexport type U = T;'),
      file("core/b.ts", 'import { ban } from "../moderation/bans.js";\nexport const c = ban;'),
      file("runtime/io.ts", "export type T = number;"),
      file("moderation/bans.ts", "export const ban = 1;"),
      file("moderation/service.ts", 'import { ban } from "./bans.js";\nexport const d = ban;'),
    ]);
    expect(keys(findings).sort()).toEqual([
      "imports-client core/b.ts moderation/bans.ts",
      "imports-runtime core/a.ts runtime/io.ts",
    ]);
  });
});

describe("#platform/* subpath imports", () => {
  const PLATFORM_PKG: PackageLayers = {
    ...PKG,
    overrides: { ...PKG.overrides, "platform/node/random.ts": "runtime" },
  };

  it("holds every variant to the importer's rules and counts it in cycles", () => {
    const findings = checkPackage(PLATFORM_PKG, [
      file("core/id.ts", 'import { sha } from "#platform/hash";\nexport const id = sha;'),
      file("core/key.ts", 'import { fill } from "#platform/random";\nexport const k = fill;'),
      file("platform/node/hash.ts", "export const sha = 1;"),
      file(
        "platform/web/hash.ts",
        'import { id } from "../../core/id.js";\nexport const sha = id;',
      ),
      file("platform/node/random.ts", "export const fill = 2;"),
      file("platform/web/random.ts", "export const fill = 3;"),
    ]);
    expect(keys(findings).sort()).toEqual([
      "folder-cycle pkg/src core/ platform/web/",
      "imports-runtime core/key.ts platform/node/random.ts",
      "module-cycle pkg/src core/id.ts platform/web/hash.ts",
    ]);
  });

  it("resolves a platform import to nothing else (no other folder, no nested file)", () => {
    const findings = checkPackage(PLATFORM_PKG, [
      file("core/id.ts", 'import { fill } from "#platform/random";\nexport const id = fill;'),
      file("runtime/random.ts", "export const fill = 1;"),
      file("platform/web/x/random.ts", "export const fill = 2;"),
    ]);
    expect(keys(findings)).toEqual([]);
  });
});

describe("import cycles", () => {
  it("flags a cycle of three modules, once, naming its members", () => {
    const findings = checkPackage(PKG, [
      file("core/a.ts", 'import { b } from "./b.js";\nexport const a = b;'),
      file("core/b.ts", 'import { c } from "./c.js";\nexport const b = c;'),
      file("core/c.ts", 'import { a } from "./a.js";\nexport const c = () => a;'),
      file("core/d.ts", 'import { a } from "./a.js";\nexport const d = a;'),
    ]);
    expect(keys(findings)).toEqual(["module-cycle pkg/src core/a.ts core/b.ts core/c.ts"]);
  });

  it("ignores an `import type` edge, counts an inline `{ type X }` one (it still loads the module)", () => {
    const typeOnly = checkPackage(PKG, [
      file("core/a.ts", 'import type { B } from "./b.js";\nexport const a = 1 as unknown as B;'),
      file("core/b.ts", 'import { a } from "./a.js";\nexport type B = typeof a;'),
    ]);
    expect(keys(typeOnly)).toEqual([]);
    const inline = checkPackage(PKG, [
      file("core/a.ts", 'import { type B } from "./b.js";\nexport const a = 1 as unknown as B;'),
      file("core/b.ts", 'export { a } from "./a.js";\nexport type B = number;'),
    ]);
    expect(keys(inline)).toEqual(["module-cycle pkg/src core/a.ts core/b.ts"]);
  });

  it("flags folders that import each other without any module cycle", () => {
    const findings = checkPackage(PKG, [
      file("store/log.ts", 'import { chain } from "../audit/chain.js";\nexport const log = chain;'),
      file("store/codec.ts", "export const codec = 1;"),
      file(
        "audit/chain.ts",
        'import { codec } from "../store/codec.js";\nexport const chain = codec;',
      ),
    ]);
    expect(keys(findings)).toEqual(["folder-cycle pkg/src audit/ store/"]);
  });
});

describe("the allowlist", () => {
  const tree = [file("core/bad.ts", "export const a = Date.now();")];
  const entry: Allowed = {
    rule: "ambient",
    file: "pkg/src/core/bad.ts",
    detail: "Date",
    task: "someone: inject a Clock",
  };

  it("accepts a listed violation and nothing else", () => {
    expect(checkLayers([PKG], tree, [entry])).toEqual({ unexpected: [], stale: [] });
    const more = [...tree, file("core/worse.ts", "export const b = Math.random();")];
    const verdict = checkLayers([PKG], more, [entry]);
    expect(verdict.unexpected.map(findingKey)).toEqual([
      "ambient pkg/src/core/worse.ts Math.random",
    ]);
  });

  it("fails on an entry whose violation is gone, so the list only shrinks", () => {
    const fixed = [
      file("core/bad.ts", "export const a = (clock: { now(): number }) => clock.now();"),
    ];
    expect(checkLayers([PKG], fixed, [entry])).toEqual({ unexpected: [], stale: [entry] });
  });
});
