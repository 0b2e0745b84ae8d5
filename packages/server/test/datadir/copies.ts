/**
 * Throw-away data directories for one test file: copies of the format-1 fixture and empty
 * directories, each deleted after the test that made it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "vitest";
import { fixtureCopy } from "../fixtures/dataV1.js";

export function tempDataDirs(): { copy(): string; empty(): string } {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });
  return {
    copy() {
      const c = fixtureCopy();
      cleanups.push(c.cleanup);
      return c.dir;
    },
    empty() {
      const d = mkdtempSync(join(tmpdir(), "kalandra-datadir-"));
      cleanups.push(() => rmSync(d, { recursive: true, force: true }));
      return d;
    },
  };
}
