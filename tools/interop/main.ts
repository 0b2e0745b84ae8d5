/**
 * `pnpm test:interop`: @kalandra/client against OpenMLS (Wire's core-crypto 10.3.0),
 * both directions (issue 13, docs/mls-interop.md). Installs core-crypto into a scratch
 * folder, proves core-crypto's transactions rethrow errors, runs every case and prints a
 * table. Exit code 1 when any case failed or could not run (installation included).
 */
import { CASES, type CaseResult } from "./cases.js";
import {
  CORE_CRYPTO_VERSION,
  checkTransactionsRethrow,
  type InstalledCoreCrypto,
  installCoreCrypto,
} from "./coreCrypto.js";

/** A case running longer than this has hung (the slowest takes about 30 s). */
const CASE_TIMEOUT_MS = 120_000;

interface Row {
  name: string;
  creator: string;
  ok: boolean;
  epochs: number | string;
  ms: number;
  detail: string;
}

async function timed(name: string, creator: string, f: () => Promise<CaseResult>): Promise<Row> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${CASE_TIMEOUT_MS} ms`)),
      CASE_TIMEOUT_MS,
    );
  });
  try {
    const r = await Promise.race([f(), timeout]);
    return {
      name,
      creator,
      ok: true,
      epochs: r.epochs,
      ms: performance.now() - started,
      detail: r.detail,
    };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return { name, creator, ok: false, epochs: "-", ms: performance.now() - started, detail: msg };
  } finally {
    clearTimeout(timer);
  }
}

function printTable(rows: Row[]): void {
  const head = ["case", "created by", "result", "epochs", "ms", "detail"];
  const cells = rows.map((r) => [
    r.name,
    r.creator,
    r.ok ? "pass" : "FAIL",
    String(r.epochs),
    r.ms.toFixed(0),
    r.detail.replace(/\s+/g, " ").slice(0, 160),
  ]);
  const widths = head.map((h, i) =>
    Math.max(h.length, ...cells.map((c) => (c[i] as string).length)),
  );
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i] as number)).join(" | ")} |`;
  console.log(line(head));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const c of cells) console.log(line(c));
}

async function main(): Promise<number> {
  const rows: Row[] = [];
  let installed: InstalledCoreCrypto | undefined;
  const install = await timed(`install core-crypto ${CORE_CRYPTO_VERSION}`, "-", async () => {
    installed = await installCoreCrypto();
    return {
      epochs: 0,
      detail: `npm install ${installed.installMs.toFixed(0)} ms, glibc symbol rewritten`,
    };
  });
  rows.push({ ...install, epochs: "-" });
  const cc = installed?.cc;
  try {
    const canary = await timed("guard: transaction rethrows an Error", "-", async () => {
      if (cc === undefined) throw new Error("core-crypto not installed");
      await checkTransactionsRethrow(cc);
      return { epochs: 0, detail: "the canary thrown inside a transaction came out" };
    });
    rows.push({ ...canary, epochs: "-" });
    for (const c of CASES) {
      rows.push(
        await timed(c.name, c.creator, () => {
          // Without the guard a swallowed error could make a case pass vacuously.
          if (cc === undefined || !canary.ok)
            throw new Error("could not run: no working core-crypto");
          return c.run({ cc });
        }),
      );
      console.error(`${rows.at(-1)?.ok ? "pass" : "FAIL"} ${c.name} (${c.creator})`);
    }
  } finally {
    installed?.remove();
  }
  console.log("");
  printTable(rows);
  const failed = rows.filter((r) => !r.ok).length;
  console.log(`\n${rows.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

// Exit explicitly: a timed-out case may leave native core-crypto work pending.
process.exit(await main());
