/**
 * `pnpm pack:check` (CI, .ci/run): the public packages as an npm consumer gets them.
 *
 * 1. runs `pnpm build` (turbo, cached; then the browser builds' sizes against their
 *    budget) and packs proto, client and server with `pnpm pack`
 *    (pnpm applies `publishConfig` and turns `workspace:*` into versions; npm pack would
 *    ship both unchanged, which no registry install can resolve);
 * 2. lints every tarball with publint and @arethetypeswrong/cli (ESM-only profile: the
 *    packages are ES modules for Node >= 20 and bundlers);
 * 3. installs the tarballs with plain npm into an empty temp project, compiles
 *    tools/pack/consumer.ts there with tsc against the tarballs' declarations, starts
 *    kalandrad from the installed @kalandra/server's bin on loopback, and runs the consumer:
 *    a room, a member added, a message each way, over WebSocket and over WebTransport;
 * 4. bundles tools/pack/browserPage.ts for the browser in that project (the tarballs'
 *    browser builds) and runs it in headless Chromium against the same kalandrad: MLS
 *    create/join, a message each way, and the notification decryptor.
 *
 * Exits non-zero on any finding or failure. `--keep` leaves the temp project in place.
 */
import { execFileSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startKalandrad } from "@kalandra/test-support";
import { runPackedInBrowser } from "./browser.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PUBLIC = ["proto", "client", "server"] as const;
const keep = process.argv.includes("--keep");
const bin = (name: string) => join(root, "node_modules", ".bin", name);

function run(cmd: string, args: string[], cwd: string, quiet = false): string {
  const started = performance.now();
  let out: string;
  try {
    out = execFileSync(cmd, args, {
      cwd,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, npm_config_update_notifier: "false" },
    });
  } catch (e) {
    console.log((e as { stdout?: string }).stdout ?? ""); // what failed says why
    throw e;
  }
  if (!quiet && out.trim() !== "") console.log(out.trimEnd());
  console.log(`  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  return out;
}

/** pnpm as the one running this script (npm_execpath), else the README's `npx -y pnpm@10`. */
function pnpm(args: string[], cwd: string, quiet = true): string {
  const execPath = process.env.npm_execpath;
  return execPath?.includes("pnpm")
    ? run(process.execPath, [execPath, ...args], cwd, quiet)
    : run("npx", ["-y", "pnpm@10", ...args], cwd, quiet);
}

const work = mkdtempSync(join(tmpdir(), "kalandra-pack-"));
const tarballs = join(work, "tarballs");
const project = join(work, "consumer");
mkdirSync(tarballs);
mkdirSync(project);
let hub: Awaited<ReturnType<typeof startKalandrad>> | undefined;
try {
  console.log("+ pnpm build (dist of every public package, the browser builds' sizes and budget)");
  const built = pnpm(["build"], root);
  console.log(built.slice(built.indexOf("browser builds")).trimEnd());

  console.log("+ pnpm pack");
  const tgz: Record<string, string> = {};
  for (const p of PUBLIC) {
    pnpm(["pack", "--pack-destination", tarballs], join(root, "packages", p));
    const file = readdirSync(tarballs).find((f) => f.startsWith(`kalandra-${p}-`));
    if (file === undefined) throw new Error(`pnpm pack made no tarball for ${p}`);
    tgz[p] = join(tarballs, file);
  }

  for (const p of PUBLIC) {
    console.log(`+ publint, attw: @kalandra/${p}`);
    const unpacked = join(work, "unpacked", p);
    mkdirSync(unpacked, { recursive: true });
    run("tar", ["-xzf", tgz[p] as string, "-C", unpacked, "--strip-components=1"], work, true);
    run(bin("publint"), ["run", unpacked, "--strict", "--pack", "false"], root);
    run(
      bin("attw"),
      [tgz[p] as string, "--profile", "esm-only", "--format", "table-flipped"],
      root,
    );
  }

  console.log("+ npm install (the tarballs, plain npm, an empty project)");
  const deps = Object.fromEntries(PUBLIC.map((p) => [`@kalandra/${p}`, `file:${tgz[p]}`]));
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify(
      // overrides: client and server name @kalandra/proto by version; take it from its tarball.
      { name: "consumer", private: true, type: "module", dependencies: deps, overrides: deps },
      null,
      2,
    ),
  );
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], project);

  // The patched ts-mls travels inside client and server (tools/build/vendorTsMls.ts):
  // npm installed no ts-mls of its own, and the vendored copies carry the patch's API.
  if (existsSync(join(project, "node_modules/ts-mls"))) {
    throw new Error(
      "npm installed ts-mls: a package still depends on it instead of its vendored copy",
    );
  }
  for (const p of ["client", "server"]) {
    const index = join(project, "node_modules/@kalandra", p, "dist/vendor/ts-mls/index.js");
    if (!readFileSync(index, "utf8").includes("decodeExternalSenders")) {
      throw new Error(`@kalandra/${p}: the vendored ts-mls is not the patched one`);
    }
  }

  console.log("+ tsc (the consumer against the tarballs' declarations)");
  for (const f of ["consumer.ts", "fixtureClient.ts"]) {
    copyFileSync(join(root, "tools/pack", f), join(project, f));
  }
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        skipLibCheck: false,
        typeRoots: [join(root, "node_modules/@types")],
        types: ["node"],
      },
      files: ["consumer.ts"],
    }),
  );
  run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", project], project);

  console.log("+ kalandrad (the installed bin) and the consumer, over WebSocket and WebTransport");
  hub = await startKalandrad({
    bin: join(project, "node_modules/@kalandra/server/dist/cli/main.js"),
    dataDir: join(work, "data"),
    monitoringListen: "",
    stderr: "inherit",
  });
  const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const info = {
    websocket: hub.websocket,
    webtransport: `https://127.0.0.1:${hub.port}/kalandra`,
    certHash: hex(hub.certHash),
    hubKey: hex(hub.hubKey),
  };
  const out = run(process.execPath, ["consumer.js", JSON.stringify(info)], project);
  const result = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as Record<
    string,
    { alice: string[]; bob: string[] }
  >;
  for (const t of ["websocket", "webtransport"]) {
    const r = result[t];
    const heard = [r?.bob.join(), r?.alice.join()];
    if (heard[0] !== `alice-${t}: hello over ${t}` || heard[1] !== `bob-${t}: hi back over ${t}`) {
      throw new Error(`consumer over ${t}: unexpected result ${JSON.stringify(r)}`);
    }
  }

  console.log("+ Chromium: the tarballs' browser builds (MLS create/join/encrypt/decrypt, notify)");
  const started = performance.now();
  const page = await runPackedInBrowser(root, project, {
    websocket: hub.websocket,
    hubKey: info.hubKey,
  });
  console.log(
    `${JSON.stringify(page)}\n  (${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
  if (
    page.bob.join() !== "alice-browser: hello from alice,alice-browser: pushed to bob's phone" ||
    page.alice.join() !== "bob-browser: hello from bob" ||
    page.notify !== "pushed to bob's phone"
  ) {
    throw new Error(`the browser run: unexpected result ${JSON.stringify(page)}`);
  }
  console.log(
    "pack check passed: publint and attw clean; the npm-installed packages work in Node and Chromium",
  );
} finally {
  if (hub !== undefined && hub.child.exitCode === null) {
    hub.child.kill("SIGTERM");
    await hub.exit;
  }
  if (keep) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
