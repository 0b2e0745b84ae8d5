/**
 * Where the tests' Chromium comes from. A fresh machine has no browser and can reach only
 * the npm registry, so the default is the headless Chromium that `@sparticuz/chromium`
 * ships inside its npm package (brotli-compressed, self-contained: it links nothing beyond
 * glibc and libexpat). It is inflated once per version into a cache folder under the OS
 * temp folder; concurrent test processes may race to inflate it, so each writes a private
 * temporary file and renames it into place (atomic on one file system): nobody ever
 * executes a half-written binary. The package's own `executablePath()` is not used: it
 * checks only that `/tmp/chromium` exists, whatever its version or state.
 *
 * Order: `KALANDRA_CHROMIUM` (an explicit path), then the npm package, then Debian's
 * `/usr/bin/chromium` when present (never required: `.ci/run` does not install it).
 */
import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, rename, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createBrotliDecompress } from "node:zlib";

/** The environment variable naming a Chromium (or Chrome) executable to use instead. */
export const CHROMIUM_ENV = "KALANDRA_CHROMIUM";
const DEBIAN_CHROMIUM = "/usr/bin/chromium";
const PACKAGE = "@sparticuz/chromium";

export interface ChromiumBinaryOptions {
  /** Folder for the inflated binary (default: `<os temp>/kalandra-chromium-<version>`). */
  cacheDir?: string;
  /** The environment to read `KALANDRA_CHROMIUM` from (default: `process.env`). */
  env?: Record<string, string | undefined>;
}

export interface ChromiumBinary {
  path: string;
  /** Where it came from, for failure messages and reports. */
  source: "env" | "npm" | "debian";
}

/** The npm package's compressed binary and version, or undefined when it is not installed. */
function packagedChromium(): { archive: string; version: string } | undefined {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve(PACKAGE);
  } catch {
    return undefined;
  }
  // The entry point's folder differs between versions (build/, build/cjs/): walk up to
  // the package's own root, the folder whose package.json names it.
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, "package.json");
    if (!existsSync(manifest)) continue;
    const { name, version } = JSON.parse(readFileSync(manifest, "utf8")) as Record<string, string>;
    if (name !== PACKAGE) continue;
    const archive = join(dir, "bin", "chromium.br");
    return existsSync(archive) ? { archive, version: version! } : undefined;
  }
  return undefined;
}

async function inflateOnce(archive: string, dir: string): Promise<string> {
  const target = join(dir, "chromium");
  if (existsSync(target)) return target;
  await mkdir(dir, { recursive: true });
  const partial = join(dir, `chromium.${randomUUID()}.partial`);
  try {
    await pipeline(createReadStream(archive), createBrotliDecompress(), createWriteStream(partial));
    await chmod(partial, 0o755);
    await rename(partial, target);
  } finally {
    await rm(partial, { force: true });
  }
  return target;
}

/**
 * The Chromium executable the tests launch, inflated from the npm package on first use.
 * @example const { path } = await chromiumBinary();
 */
export async function chromiumBinary(options: ChromiumBinaryOptions = {}): Promise<ChromiumBinary> {
  const explicit = (options.env ?? process.env)[CHROMIUM_ENV];
  if (explicit !== undefined && explicit !== "") {
    if (!existsSync(explicit)) throw new Error(`${CHROMIUM_ENV}=${explicit}: no such file`);
    return { path: explicit, source: "env" };
  }
  const packaged = packagedChromium();
  if (packaged !== undefined) {
    const dir = options.cacheDir ?? join(tmpdir(), `kalandra-chromium-${packaged.version}`);
    return { path: await inflateOnce(packaged.archive, dir), source: "npm" };
  }
  if (existsSync(DEBIAN_CHROMIUM)) return { path: DEBIAN_CHROMIUM, source: "debian" };
  throw new Error(
    `no Chromium: ${PACKAGE} is not installed (run pnpm install), ${DEBIAN_CHROMIUM} is absent and ${CHROMIUM_ENV} is unset`,
  );
}
