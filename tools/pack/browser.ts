/**
 * The pack check's browser step: bundles tools/pack/browserPage.ts inside the consumer
 * project (its imports resolve to the npm-installed tarballs' browser builds) and runs it
 * in headless Chromium (@kalandra/test-support/browser) against the running kalandrad.
 */
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { runScript, withChromium } from "@kalandra/test-support/browser";
import { build } from "esbuild";

export interface BrowserResult {
  alice: string[];
  bob: string[];
  notify: string;
  blobBytes: number;
}

export async function runPackedInBrowser(
  root: string,
  project: string,
  hub: { websocket: string; hubKey: string },
): Promise<BrowserResult> {
  for (const f of ["browserPage.ts", "fixtureClient.ts"]) {
    copyFileSync(join(root, "tools/pack", f), join(project, f));
  }
  const page = join(project, "browserPage.ts");
  const bundle = await build({
    entryPoints: [page],
    absWorkingDir: project,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "error",
  });
  const script = bundle.outputFiles[0]?.text ?? "";
  const run = await withChromium((chromium) =>
    runScript<BrowserResult>(chromium, {
      script,
      files: { "/hub.json": JSON.stringify(hub) },
      timeoutMs: 90_000,
    }),
  );
  if (run.pageErrors.length > 0) throw new Error(`page errors: ${run.pageErrors.join("; ")}`);
  return run.result;
}
