/**
 * The event trace of a run. Every scheduled event and every decision the harness makes
 * is appended as one line; the running SHA-256 over those lines is what two runs of the
 * same seed must agree on byte for byte (DESIGN §8).
 */
import { createHash, type Hash } from "node:crypto";

export class Trace {
  readonly #hash: Hash = createHash("sha256");
  readonly #lines: string[] | undefined;
  #count = 0;

  /** `keepLines` stores every line in memory so a failing run can write its trace to a file. */
  constructor(keepLines = false) {
    this.#lines = keepLines ? [] : undefined;
  }

  record(line: string): void {
    this.#hash.update(line).update("\n");
    this.#lines?.push(line);
    this.#count++;
  }

  get count(): number {
    return this.#count;
  }

  /** Lines recorded so far (empty unless constructed with keepLines). */
  lines(): readonly string[] {
    return this.#lines ?? [];
  }

  /** Hex digest of everything recorded so far; the trace can keep growing afterwards. */
  digest(): string {
    return this.#hash.copy().digest("hex");
  }
}
