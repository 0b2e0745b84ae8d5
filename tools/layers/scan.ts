/**
 * What one module imports and which ambient effects it reaches for, read from its syntax
 * tree (TypeScript's parser, so comments, strings and type positions are never mistaken
 * for code).
 */
import ts from "typescript";

/** One import or re-export edge. */
export interface ImportEdge {
  specifier: string;
  /**
   * `import type … from` / `export type … from`: erased before the code runs. An inline
   * `import { type A }` is not: under `verbatimModuleSyntax` it stays `import {} from`,
   * which still evaluates the module.
   */
  typeOnly: boolean;
  /** Named bindings (`import { a, b as c }` gives a, b); empty for default/namespace. */
  names: string[];
  /** `import * as x` or `import x` (a whole-module binding the checker cannot narrow). */
  wholeModule: boolean;
  line: number;
}

/** A use of time, randomness, timers or the process (DESIGN §2). */
export interface AmbientUse {
  what: string;
  line: number;
}

export interface ModuleScan {
  imports: ImportEdge[];
  ambient: AmbientUse[];
}

/**
 * Globals a core may not touch: clocks, timers, entropy, the process, the network.
 * `queueMicrotask` is deliberately absent: a microtask runs
 * before any I/O or timer, in a fixed order, so it stays deterministic (AppendBatcher
 * relies on that, docs/architecture.md).
 */
const FORBIDDEN_GLOBALS = new Set([
  "Date",
  "process",
  "performance",
  "setTimeout",
  "setInterval",
  "setImmediate",
  "crypto", // the WebCrypto global: getRandomValues, randomUUID
  "fetch",
  "WebSocket",
  "WebTransport",
]);
const GLOBAL_OBJECTS = new Set(["globalThis", "global", "window", "self"]);

export function scanModule(fileName: string, text: string): ModuleScan {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true);
  const imports: ImportEdge[] = [];
  const ambient: AmbientUse[] = [];
  const declared = declaredNames(sf);
  const lineOf = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;

  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const bindings = clause?.namedBindings;
      imports.push({
        specifier: node.moduleSpecifier.text,
        typeOnly: clause?.isTypeOnly === true,
        names:
          bindings && ts.isNamedImports(bindings)
            ? bindings.elements.map((e) => (e.propertyName ?? e.name).text)
            : [],
        wholeModule:
          clause?.name !== undefined || (bindings !== undefined && ts.isNamespaceImport(bindings)),
        line: lineOf(node),
      });
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      const clause = node.exportClause;
      imports.push({
        specifier: node.moduleSpecifier.text,
        typeOnly: node.isTypeOnly,
        names:
          clause && ts.isNamedExports(clause)
            ? clause.elements.map((e) => (e.propertyName ?? e.name).text)
            : [],
        wholeModule: clause === undefined || ts.isNamespaceExport(clause),
        line: lineOf(node),
      });
    } else if (ts.isCallExpression(node) && isDynamicLoad(node)) {
      const arg = node.arguments[0];
      if (arg && ts.isStringLiteralLike(arg)) {
        imports.push({
          specifier: arg.text,
          typeOnly: false,
          names: [],
          wholeModule: true,
          line: lineOf(node),
        });
      }
    } else if (ts.isIdentifier(node) && FORBIDDEN_GLOBALS.has(node.text)) {
      if (isGlobalReference(node) && !declared.has(node.text) && !isGivenInstant(node)) {
        ambient.push({ what: node.text, line: lineOf(node) });
      }
    } else if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression)) {
      const obj = node.expression.text;
      const prop = node.name.text;
      if (obj === "Math" && prop === "random" && !declared.has("Math")) {
        ambient.push({ what: "Math.random", line: lineOf(node) });
      } else if (GLOBAL_OBJECTS.has(obj) && !declared.has(obj) && FORBIDDEN_GLOBALS.has(prop)) {
        ambient.push({ what: prop, line: lineOf(node) });
      }
    }
    if (ts.isTypeNode(node) && !ts.isExpressionWithTypeArguments(node)) return; // types never run
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { imports, ambient };
}

/**
 * `new Date(t)` with an argument converts a time the core was given (e.g. for a library
 * that takes a Date); only `new Date()`, `Date()` and `Date.now()` read the clock.
 */
function isGivenInstant(id: ts.Identifier): boolean {
  const p = id.parent;
  return (
    id.text === "Date" &&
    ts.isNewExpression(p) &&
    p.expression === id &&
    (p.arguments?.length ?? 0) > 0
  );
}

/** `import("x")` and `require("x")`. */
function isDynamicLoad(node: ts.CallExpression): boolean {
  if (node.expression.kind === ts.SyntaxKind.ImportKeyword) return true;
  return ts.isIdentifier(node.expression) && node.expression.text === "require";
}

/** An identifier that names a binding in scope, not a property, key or label. */
function isGlobalReference(id: ts.Identifier): boolean {
  const p = id.parent;
  if (ts.isPropertyAccessExpression(p) && p.name === id) return false;
  if (ts.isQualifiedName(p) && p.right === id) return false;
  if (
    (ts.isPropertyAssignment(p) ||
      ts.isPropertyDeclaration(p) ||
      ts.isPropertySignature(p) ||
      ts.isMethodDeclaration(p) ||
      ts.isMethodSignature(p) ||
      ts.isGetAccessor(p) ||
      ts.isSetAccessor(p) ||
      ts.isEnumMember(p)) &&
    p.name === id
  ) {
    return false;
  }
  if (ts.isLabeledStatement(p) || ts.isBreakOrContinueStatement(p)) return false;
  if (ts.isImportSpecifier(p) || ts.isExportSpecifier(p)) return false;
  return true;
}

/**
 * Every name the module declares anywhere (variables, parameters, functions, classes,
 * imports). A module that declares its own `process` or `Date` is not using the global;
 * shadowing is rare enough that file-wide (rather than per-scope) is precise enough.
 */
function declaredNames(sf: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const addBinding = (name: ts.BindingName): void => {
    if (ts.isIdentifier(name)) names.add(name.text);
    else for (const el of name.elements) if (!ts.isOmittedExpression(el)) addBinding(el.name);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) || ts.isParameter(node) || ts.isBindingElement(node)) {
      addBinding(node.name);
    } else if (
      (ts.isFunctionDeclaration(node) || ts.isClassDeclaration(node)) &&
      node.name !== undefined
    ) {
      names.add(node.name.text);
    } else if (ts.isImportClause(node) && node.name) {
      names.add(node.name.text);
    } else if (ts.isImportSpecifier(node) || ts.isNamespaceImport(node)) {
      names.add(node.name.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return names;
}
