/**
 * @kalandra/test-support/browser — a headless Chromium for the browser tests, driven by
 * playwright-core (which never downloads a browser of its own). The binary comes from the
 * npm registry (`chromiumBinary`), so `pnpm install` is all a fresh machine needs.
 *
 * Every test that launches Chromium closes it in a `finally` (`withChromium` does that) and
 * bounds each step with a timeout; pages are served on 127.0.0.1 only.
 *
 * @example
 * import { runScript, withChromium } from "@kalandra/test-support/browser";
 * const run = await withChromium((chromium) =>
 *   runScript<number>(chromium, { script: "export default async () => 6 * 7;" }),
 * );
 * expect(run.result).toBe(42);
 */
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { build } from "esbuild";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import {
  type ChromiumBinary,
  type ChromiumBinaryOptions,
  chromiumBinary,
} from "./chromiumBinary.js";
import { type LoopbackSite, type SiteFiles, serveLoopback } from "./loopbackSite.js";

export type { Browser, BrowserContext, Page } from "playwright-core";
export {
  CHROMIUM_ENV,
  type ChromiumBinary,
  type ChromiumBinaryOptions,
  chromiumBinary,
} from "./chromiumBinary.js";
export { type LoopbackSite, type SiteFiles, serveLoopback } from "./loopbackSite.js";

/**
 * Flags beyond playwright's defaults (which already add --headless and --no-sandbox):
 * this machine's network is closed, so background, component and sync traffic would only
 * fail; there is no GPU; /dev/shm may be small in containers.
 */
const FLAGS = [
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--no-first-run",
];

export interface LaunchOptions {
  /** Real ms the launch may take (default 30_000). */
  timeoutMs?: number;
  binary?: ChromiumBinaryOptions;
}

export interface Chromium {
  browser: Browser;
  binary: ChromiumBinary;
  /** A page in a fresh context: its own cookies, storage and IndexedDB (a second "user"). */
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/** @example const chromium = await launchChromium(); try { ... } finally { await chromium.close(); } */
export async function launchChromium(options: LaunchOptions = {}): Promise<Chromium> {
  const binary = await chromiumBinary(options.binary);
  const browser = await chromium.launch({
    executablePath: binary.path,
    args: FLAGS,
    headless: true,
    timeout: options.timeoutMs ?? 30_000,
  });
  return {
    browser,
    binary,
    newPage: async () => (await browser.newContext()).newPage(),
    close: () => browser.close(),
  };
}

/** Runs `fn` with a launched Chromium and closes it afterwards, whatever happens. */
export async function withChromium<T>(
  fn: (chromium: Chromium) => Promise<T>,
  options: LaunchOptions = {},
): Promise<T> {
  const launched = await launchChromium(options);
  try {
    return await fn(launched);
  } finally {
    await launched.close();
  }
}

/**
 * TypeScript `source` bundled for browsers as one ES module (esbuild, `platform: "browser"`,
 * the `browser` condition: packages' `#platform/*` imports take their web variants); its
 * imports resolve from `resolveDir`. Refuses a bundle that reached a Node platform variant.
 *
 * @example const script = await bundleForBrowser('export { default } from "./page.ts";', here);
 */
export async function bundleForBrowser(source: string, resolveDir: string): Promise<string> {
  const r = await build({
    stdin: { contents: source, resolveDir, sourcefile: "entry.ts", loader: "ts" },
    bundle: true,
    platform: "browser",
    conditions: ["browser"],
    format: "esm",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const nodeOnly = Object.keys(r.metafile.inputs).filter((i) => i.includes("/platform/node/"));
  if (nodeOnly.length > 0) throw new Error(`the browser bundle reached ${nodeOnly.join(", ")}`);
  return r.outputFiles.map((f) => f.text).join("");
}

export interface ConsoleLine {
  /** "log", "info", "warning", "error", "debug", ... */
  type: string;
  text: string;
}

export interface RunOptions {
  /**
   * An ES module (e.g. an esbuild bundle with `format: "esm"`) whose default export is a
   * function, possibly async; its return value must be serializable (JSON-like values,
   * typed arrays are not: convert them first).
   */
  script: string;
  /** Real ms for loading the page and running the script (default 60_000). */
  timeoutMs?: number;
  /** Saves a PNG of the page here after the script returned (folders are created). */
  screenshot?: string;
  /** Further files the page or script may fetch, by URL path. */
  files?: SiteFiles;
}

export interface ScriptRun<T> {
  result: T;
  /** The page's console output, in order. */
  console: ConsoleLine[];
  /** Uncaught errors in the page (outside the awaited default export). */
  pageErrors: string[];
}

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>kalandra test page</title></head><body></body></html>`;
const SCRIPT_PATH = "/main.js";
/**
 * Evaluated in the page as source text, not as a function: vitest rewrites `import()` in
 * the test process's functions, which the page would then receive.
 */
const IMPORT_AND_RUN = `(async () => {
  const m = await import("${SCRIPT_PATH}");
  if (typeof m.default !== "function") throw new Error("${SCRIPT_PATH} has no default export");
  return await m.default();
})()`;

function timeout(ms: number, what: string): { promise: Promise<never>; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done in ${ms} ms`)), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/**
 * Serves `script` on a loopback page, imports it in a fresh context, awaits its default
 * export and returns the result with the page's console. A throwing script or a timeout
 * rejects, the console so far included in the message.
 */
export async function runScript<T>(chromium: Chromium, o: RunOptions): Promise<ScriptRun<T>> {
  const site: LoopbackSite = await serveLoopback({
    ...o.files,
    "/index.html": PAGE,
    [SCRIPT_PATH]: o.script,
  });
  const context: BrowserContext = await chromium.browser.newContext();
  const lines: ConsoleLine[] = [];
  const pageErrors: string[] = [];
  const limit = timeout(o.timeoutMs ?? 60_000, "the browser script");
  try {
    const page = await context.newPage();
    page.on("console", (m) => lines.push({ type: m.type(), text: m.text() }));
    page.on("pageerror", (e) => pageErrors.push(e.message));
    const run = (async () => {
      await page.goto(`${site.origin}/`);
      return (await page.evaluate(IMPORT_AND_RUN)) as T;
    })();
    run.catch(() => {}); // a timeout wins the race; closing the context then rejects `run`
    let result: T;
    try {
      result = await Promise.race([run, limit.promise]);
    } catch (e) {
      const shown = lines.map((l) => `  [${l.type}] ${l.text}`).join("\n");
      throw new Error(`${(e as Error).message}\nconsole:\n${shown}`, { cause: e });
    }
    if (o.screenshot !== undefined) {
      await mkdir(dirname(o.screenshot), { recursive: true });
      await page.screenshot({ path: o.screenshot });
    }
    return { result, console: lines, pageErrors };
  } finally {
    limit.cancel();
    await context.close();
    await site.close();
  }
}
