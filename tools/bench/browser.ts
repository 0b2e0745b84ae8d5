/**
 * `pnpm bench browser`: the client's costs in Node and in headless Chromium, side by side
 * (issue 14; docs/performance.md "Client in browsers"). One module, `_clientCore.ts`
 * `measureRuntime`, runs in this process (the client's node platform: node:crypto) and,
 * bundled by esbuild with the `browser` condition (the web platform: @noble and WebCrypto),
 * in a page of the tests' Chromium (@kalandra/test-support/browser). Figures, each on the
 * Kalandra provider of that runtime:
 * - encrypt_us / decrypt_us: sender-key seal / open of a 128-byte envelope (medians);
 * - mls_encrypt_us / mls_decrypt_us: MLS PrivateMessage of the same (medians);
 * - commit_process_ms: processing an empty commit with path, 100 members (quick: 20);
 * - notify_decrypt_us: one push decrypted by the notification decryptor.
 * Last line: one JSON object.
 */
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { systemRng } from "@kalandra/proto";
import { bundleForBrowser, runScript, withChromium } from "@kalandra/test-support/browser";
import { measureRuntime, type RuntimeFigures } from "./_clientCore.js";

const quick = process.env.BENCH_QUICK === "1";
const here = dirname(fileURLToPath(import.meta.url));

// `_clientCore.ts` as a browser ES module whose default export measures.
const script = await bundleForBrowser(
  [
    'import { systemRng } from "@kalandra/proto";',
    'import { measureRuntime } from "./_clientCore.ts";',
    `export default () => measureRuntime(${quick}, systemRng);`,
  ].join("\n"),
  here,
);
const node = await measureRuntime(quick, systemRng);
const { chromium, version } = await withChromium(async (c) => {
  const run = await runScript<RuntimeFigures>(c, {
    script,
    timeoutMs: quick ? 240_000 : 900_000,
  });
  return { chromium: run.result, version: c.browser.version() };
});

const rows = Object.keys(node) as (keyof RuntimeFigures)[];
console.log(`figure                  node (${process.version})   chromium ${version}`);
for (const k of rows) {
  console.log(`${k.padEnd(24)}${String(node[k]).padStart(12)}${String(chromium[k]).padStart(18)}`);
}
console.log(JSON.stringify({ suite: "browser", quick, chromium_version: version, node, chromium }));
