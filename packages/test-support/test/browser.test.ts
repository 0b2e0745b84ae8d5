import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bundleForBrowser,
  CHROMIUM_ENV,
  type Chromium,
  chromiumBinary,
  launchChromium,
  runScript,
  serveLoopback,
  withChromium,
} from "../src/browser.js";
import { tempDir } from "../src/index.js";

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47];

describe("chromiumBinary", () => {
  it("inflates the npm package's Chromium once, atomically, even when asked twice at once", async () => {
    const dir = tempDir("chromium-cache");
    try {
      const [a, b] = await Promise.all([
        chromiumBinary({ cacheDir: dir.path, env: {} }),
        chromiumBinary({ cacheDir: dir.path, env: {} }),
      ]);
      expect(a).toEqual({ path: join(dir.path, "chromium"), source: "npm" });
      expect(b).toEqual(a);
      const st = statSync(a.path);
      expect(st.size).toBeGreaterThan(50_000_000);
      expect(st.mode & 0o111).toBe(0o111);
      // ELF, and no partial file left behind by the loser of the race
      expect([...readFileSync(a.path).subarray(0, 4)]).toEqual([0x7f, 0x45, 0x4c, 0x46]);
      expect(existsSync(join(dir.path, "chromium"))).toBe(true);
      expect(readdirSync(dir.path)).toEqual(["chromium"]);
    } finally {
      dir.cleanup();
    }
  });

  it(`prefers ${CHROMIUM_ENV} and refuses a path that does not exist`, async () => {
    const dir = tempDir("chromium-env");
    try {
      const fake = join(dir.path, "my-chrome");
      await expect(chromiumBinary({ env: { [CHROMIUM_ENV]: fake } })).rejects.toThrow(
        `${CHROMIUM_ENV}=${fake}: no such file`,
      );
      writeFileSync(fake, "");
      expect(await chromiumBinary({ env: { [CHROMIUM_ENV]: fake } })).toEqual({
        path: fake,
        source: "env",
      });
    } finally {
      dir.cleanup();
    }
  });
});

describe("serveLoopback", () => {
  it("serves the given files on 127.0.0.1 with their types, 404 for anything else", async () => {
    const site = await serveLoopback({
      "/index.html": "<p>hi</p>",
      "/a.bin": new Uint8Array([1, 2]),
    });
    try {
      expect(site.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const index = await fetch(`${site.origin}/`);
      expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(await index.text()).toBe("<p>hi</p>");
      const bin = await fetch(`${site.origin}/a.bin`);
      expect(bin.headers.get("content-type")).toBe("application/octet-stream");
      expect([...new Uint8Array(await bin.arrayBuffer())]).toEqual([1, 2]);
      expect((await fetch(`${site.origin}/missing.js`)).status).toBe(404);
      expect((await fetch(`${site.origin}/`, { method: "POST" })).status).toBe(404);
      expect(site.requested).toEqual(["/", "/a.bin", "/missing.js", "/"]);
    } finally {
      await site.close();
    }
  });
});

describe("Chromium", () => {
  let chromium: Chromium;
  beforeAll(async () => {
    chromium = await launchChromium();
  });
  afterAll(async () => {
    await chromium?.close();
  });

  it("runs a module's default export in a secure page and returns its result and console", async () => {
    const run = await runScript<{ sum: number; alg: string; secure: boolean; data: string }>(
      chromium,
      {
        files: { "/data.json": '{"n":41}' },
        script: `
          export default async () => {
            console.log("starting", 1);
            console.warn("careful");
            const { n } = await (await fetch("/data.json")).json();
            const key = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign"]);
            return { sum: n + 1, alg: key.privateKey.algorithm.name, secure: isSecureContext, data: location.origin };
          };`,
      },
    );
    expect(run.result.sum).toBe(42);
    expect(run.result.alg).toBe("Ed25519");
    expect(run.result.secure).toBe(true);
    expect(run.result.data).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(run.console).toEqual([
      { type: "log", text: "starting 1" },
      { type: "warning", text: "careful" },
    ]);
    expect(run.pageErrors).toEqual([]);
  });

  it("rejects with the script's error and the console so far", async () => {
    const failing = runScript(chromium, {
      script: `export default () => { console.log("before"); throw new Error("boom in page"); };`,
    });
    await expect(failing).rejects.toThrow(/boom in page[\s\S]*console:\n {2}\[log\] before/);
  });

  it("rejects a module without a default export", async () => {
    await expect(runScript(chromium, { script: "export const x = 1;" })).rejects.toThrow(
      "/main.js has no default export",
    );
  });

  it("gives up on a script that never finishes, after the timeout", async () => {
    const started = performance.now();
    await expect(
      runScript(chromium, {
        script: "export default () => new Promise(() => {});",
        timeoutMs: 1_500,
      }),
    ).rejects.toThrow("the browser script: not done in 1500 ms");
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it("records uncaught page errors and saves a screenshot", async () => {
    const dir = tempDir("screenshot");
    try {
      const path = join(dir.path, "deep", "shot.png");
      const run = await runScript<string>(chromium, {
        screenshot: path,
        script: `export default async () => {
          document.body.innerHTML = "<h1>Kalandra</h1>";
          setTimeout(() => { throw new Error("late failure"); });
          await new Promise((r) => setTimeout(r, 50));
          return document.querySelector("h1").textContent;
        };`,
      });
      expect(run.result).toBe("Kalandra");
      expect(run.pageErrors).toEqual(["late failure"]);
      expect([...readFileSync(path).subarray(0, 4)]).toEqual(PNG_MAGIC);
    } finally {
      dir.cleanup();
    }
  });

  it("gives each page its own context: storage does not leak between them", async () => {
    const site = await serveLoopback({ "/index.html": "<p>x</p>" });
    try {
      const a = await chromium.newPage();
      const b = await chromium.newPage();
      await a.goto(`${site.origin}/`);
      await b.goto(`${site.origin}/`);
      await a.evaluate(`localStorage.setItem("who", "alice")`);
      expect(await a.evaluate(`localStorage.getItem("who")`)).toBe("alice");
      expect(await b.evaluate(`localStorage.getItem("who")`)).toBeNull();
      await a.context().close();
      await b.context().close();
    } finally {
      await site.close();
    }
  });
});

describe("withChromium", () => {
  it("closes the browser after the callback, also when it throws", async () => {
    let seen: Chromium | undefined;
    await expect(
      withChromium(async (c) => {
        seen = c;
        expect(c.browser.isConnected()).toBe(true);
        throw new Error("test failure inside");
      }),
    ).rejects.toThrow("test failure inside");
    expect(seen?.browser.isConnected()).toBe(false);
  });
});

describe("bundleForBrowser", () => {
  it("bundles TypeScript with its imports into one module Chromium runs", async () => {
    const dir = tempDir("bundle");
    try {
      writeFileSync(join(dir.path, "answer.ts"), "export const answer: number = 6 * 7;\n");
      const script = await bundleForBrowser(
        'import { answer } from "./answer.ts"; export default () => answer;',
        dir.path,
      );
      expect(script).not.toContain("import ");
      const run = await withChromium((c) => runScript<number>(c, { script }));
      expect(run.result).toBe(42);
    } finally {
      dir.cleanup();
    }
  });

  it("refuses a bundle that reaches a package's node platform variant", async () => {
    const dir = tempDir("bundle-node");
    try {
      const pkg = join(dir.path, "node_modules", "dual");
      mkdirSync(join(pkg, "platform", "node"), { recursive: true });
      mkdirSync(join(pkg, "platform", "web"), { recursive: true });
      writeFileSync(
        join(pkg, "package.json"),
        JSON.stringify({
          name: "dual",
          exports: { ".": { node: "./platform/node/x.js", default: "./platform/web/x.js" } },
        }),
      );
      writeFileSync(join(pkg, "platform", "node", "x.js"), "export const where = 'node';\n");
      writeFileSync(join(pkg, "platform", "web", "x.js"), "export const where = 'web';\n");
      const ok = await bundleForBrowser('export { where } from "dual";', dir.path);
      expect(ok).toContain("web");
      // A path straight into the node variant is what a wrong condition would produce.
      await expect(
        bundleForBrowser(
          'export { where } from "./node_modules/dual/platform/node/x.js";',
          dir.path,
        ),
      ).rejects.toThrow("the browser bundle reached");
    } finally {
      dir.cleanup();
    }
  });
});
