/** Temporary directories under the OS temp folder, removed by `cleanup()`. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TempDir {
  readonly path: string;
  /** Removes the directory and everything in it (idempotent). */
  cleanup(): void;
}

/**
 * @example
 * const dir = tempDir("storage");
 * afterAll(() => dir.cleanup());
 */
export function tempDir(label: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), `kalandra-${label}-`));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}
