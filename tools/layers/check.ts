/**
 * The layering check (issue 11, docs/architecture.md "Folders and what they may import"):
 * cores take no I/O, time, randomness or process state, cores do not import runtime code,
 * and no package has an import cycle between its modules or between its folders.
 * Pure over a list of files so the tests can plant violations; tools/check-layers.ts
 * runs it on the repository.
 */
import { builtinModules } from "node:module";
import { posix } from "node:path";
import { type ModuleScan, scanModule } from "./scan.js";

export interface SourceFile {
  /** Repository-relative, `/`-separated. */
  path: string;
  text: string;
}

/** How a folder's modules are checked. */
export type Layer =
  /** Decides; may not import `node:*` (but see PURE_NODE_IMPORTS) or reach ambient effects. */
  | "core"
  /** Simulation runtime: may import Node modules, must stay deterministic (no ambient effects). */
  | "deterministic"
  /** Does I/O; unrestricted. */
  | "runtime";

export interface PackageLayers {
  /** `packages/server/src`. */
  src: string;
  /** Default layer of the package's modules. */
  layer: Layer;
  /** Paths under `src` (a folder `runtime/` or a file `guards.ts`) with another layer. */
  overrides: Record<string, Layer>;
  /**
   * Core folders that are clients of the other cores (moderation drives sequencers and
   * shards): no other core module may import them, not even for a type.
   */
  clients?: string[];
}

export type Rule =
  | "node-import" // a core imports a Node built-in
  | "ambient" // a core or deterministic module uses Date, Math.random, timers, process, ...
  | "imports-runtime" // a core module imports a module of a runtime folder
  | "imports-client" // a core module imports a client of the cores (moderation)
  | "module-cycle" // modules that import each other, directly or through others
  | "folder-cycle"; // folders that import each other

export interface Finding {
  rule: Rule;
  /** The module, or for cycles the package's src folder. */
  file: string;
  /** What exactly: the specifier, the global, or the members of the cycle. */
  detail: string;
  line?: number;
}

/** One known violation that another task is removing (issue 11). */
export interface Allowed {
  rule: Rule;
  file: string;
  detail: string;
  /** Who removes it and how; an entry without a task is not accepted. */
  task: string;
}

export const findingKey = (f: Pick<Finding, "rule" | "file" | "detail">): string =>
  `${f.rule} ${f.file} ${f.detail}`;

/**
 * Node modules a core may import, and the bindings it may not take from them. node:crypto
 * stays because its hashes, AEADs and Ed25519 are deterministic functions of their inputs
 * and far faster than the pure-JS alternatives (PROBES: Ed25519 verify 118 µs vs ~2.4 ms);
 * its randomness does not, because cores draw randomness from an injected `Rng`.
 */
const PURE_NODE_IMPORTS: Record<string, (name: string) => boolean> = {
  "node:crypto": (name) => !/^(random|generate|getRandomValues$|webcrypto$|getFips)/.test(name),
  "node:buffer": () => true,
};

const NODE_BUILTINS = new Set(builtinModules);

function isNodeBuiltin(specifier: string): boolean {
  return specifier.startsWith("node:") || NODE_BUILTINS.has(specifier.split("/")[0]!);
}

/** Whether `path` is the module or lies in the folder `prefix` (relative to src). */
function under(pkg: PackageLayers, path: string, prefix: string): boolean {
  const rel = posix.relative(pkg.src, path);
  const p = prefix.replace(/\/$/, "");
  return rel === p || rel.startsWith(`${p}/`);
}

/** The layer of a file: the longest matching override, else the package default. */
export function layerOf(pkg: PackageLayers, path: string): Layer {
  let best: { len: number; layer: Layer } | undefined;
  for (const [prefix, layer] of Object.entries(pkg.overrides)) {
    if (under(pkg, path, prefix) && (best === undefined || prefix.length > best.len)) {
      best = { len: prefix.length, layer };
    }
  }
  return best?.layer ?? pkg.layer;
}

/** The client folder `path` lies in, if any. */
function clientOf(pkg: PackageLayers, path: string): string | undefined {
  return pkg.clients?.find((c) => under(pkg, path, c));
}

/** Resolves a relative specifier against the package's files (`.js` names a `.ts` source). */
function resolveRelative(from: string, specifier: string, files: Set<string>): string | undefined {
  const base = posix.join(posix.dirname(from), specifier);
  const candidates = [base, base.replace(/\.js$/, ".ts"), `${base}.ts`, `${base}/index.ts`];
  return candidates.find((c) => files.has(c));
}

/**
 * The modules a `#platform/<name>` subpath import may resolve to: every
 * `platform/<variant>/<name>.ts` of the package (package.json "imports" picks one variant
 * per condition: node, browser, default). The check holds every variant to the
 * importer's rules, so a core cannot reach a runtime module through a condition.
 */
function resolvePlatform(pkg: PackageLayers, specifier: string, files: Set<string>): string[] {
  const name = specifier.slice("#platform/".length);
  const prefix = `${pkg.src}/platform/`;
  return [...files].filter((f) => {
    if (!f.startsWith(prefix)) return false;
    const rest = f.slice(prefix.length).split("/");
    return rest.length === 2 && rest[1] === `${name}.ts`;
  });
}

/**
 * The unit of the folder check: the folder of a module, or the module itself when it sits
 * at the root of src (index.ts, hlc.ts are not a folder of their own).
 */
function folderOf(pkg: PackageLayers, path: string): string {
  const dir = posix.relative(pkg.src, posix.dirname(path));
  return dir === "" ? posix.relative(pkg.src, path) : `${dir}/`;
}

/** Every violation in one package. */
export function checkPackage(pkg: PackageLayers, files: SourceFile[]): Finding[] {
  const mine = files.filter((f) => f.path.startsWith(`${pkg.src}/`));
  const paths = new Set(mine.map((f) => f.path));
  const findings: Finding[] = [];
  const moduleEdges = new Map<string, Set<string>>();
  const folderEdges = new Map<string, Set<string>>();

  for (const file of mine) {
    const scan: ModuleScan = scanModule(file.path, file.text);
    const layer = layerOf(pkg, file.path);
    if (layer !== "runtime") {
      const seen = new Set<string>();
      for (const use of scan.ambient) {
        if (seen.has(use.what)) continue;
        seen.add(use.what);
        findings.push({ rule: "ambient", file: file.path, detail: use.what, line: use.line });
      }
    }
    const out = new Set<string>();
    moduleEdges.set(file.path, out);
    for (const edge of scan.imports) {
      if (layer === "core" && !edge.typeOnly && isNodeBuiltin(edge.specifier)) {
        const pure = PURE_NODE_IMPORTS[edge.specifier];
        const ok = pure !== undefined && !edge.wholeModule && edge.names.every(pure);
        if (!ok) {
          findings.push({
            rule: "node-import",
            file: file.path,
            detail: edge.specifier,
            line: edge.line,
          });
        }
        continue;
      }
      const targets = edge.specifier.startsWith("#platform/")
        ? resolvePlatform(pkg, edge.specifier, paths)
        : edge.specifier.startsWith(".")
          ? [resolveRelative(file.path, edge.specifier, paths)]
          : [];
      for (const target of targets) {
        if (target === undefined) continue;
        if (layer === "core" && layerOf(pkg, target) === "runtime") {
          findings.push({
            rule: "imports-runtime",
            file: file.path,
            detail: posix.relative(pkg.src, target),
            line: edge.line,
          });
        }
        const client = clientOf(pkg, target);
        if (layer === "core" && client !== undefined && clientOf(pkg, file.path) !== client) {
          findings.push({
            rule: "imports-client",
            file: file.path,
            detail: posix.relative(pkg.src, target),
            line: edge.line,
          });
        }
        // A type-only import is erased before the code runs: it orders no evaluation and
        // carries no behaviour, so it cannot make the undefined-at-init bugs a cycle makes.
        if (edge.typeOnly) continue;
        out.add(target);
        const a = folderOf(pkg, file.path);
        const b = folderOf(pkg, target);
        if (a !== b) {
          if (!folderEdges.has(a)) folderEdges.set(a, new Set());
          folderEdges.get(a)!.add(b);
        }
      }
    }
  }

  for (const scc of cyclesOf(moduleEdges)) {
    const members = scc.map((p) => posix.relative(pkg.src, p)).sort();
    findings.push({ rule: "module-cycle", file: pkg.src, detail: members.join(" ") });
  }
  for (const scc of cyclesOf(folderEdges)) {
    if (scc.every((unit) => !unit.endsWith("/"))) continue; // root modules: a module cycle
    findings.push({ rule: "folder-cycle", file: pkg.src, detail: [...scc].sort().join(" ") });
  }
  return findings;
}

/** Strongly connected components with more than one node (Tarjan); a self-import counts. */
export function cyclesOf(edges: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const strong = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || edges.get(v)?.has(v)) out.push(scc);
    }
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) strong(v);
  return out;
}

export interface Verdict {
  /** Violations not on the allowlist. */
  unexpected: Finding[];
  /** Allowlist entries that match nothing any more: remove them. */
  stale: Allowed[];
}

/** Compares the findings with the allowlist; both lists empty means the tree passes. */
export function judge(findings: Finding[], allowed: Allowed[]): Verdict {
  const allowedKeys = new Set(allowed.map(findingKey));
  const foundKeys = new Set(findings.map(findingKey));
  return {
    unexpected: findings.filter((f) => !allowedKeys.has(findingKey(f))),
    stale: allowed.filter((a) => !foundKeys.has(findingKey(a))),
  };
}

export function checkLayers(
  packages: PackageLayers[],
  files: SourceFile[],
  allowed: Allowed[],
): Verdict {
  return judge(
    packages.flatMap((p) => checkPackage(p, files)),
    allowed,
  );
}
