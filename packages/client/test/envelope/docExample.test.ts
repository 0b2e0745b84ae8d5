/**
 * Runs the `ts doc-example` block of docs/client.md ("Example": sender keys, envelopes,
 * notifications) and checks every `// → …` comment against what it printed, so the doc
 * cannot drift from the code.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

describe("docs/client.md sender-key example", () => {
  it("runs and prints what its comments say", async () => {
    const md = readFileSync(
      fileURLToPath(new URL("../../../../docs/client.md", import.meta.url)),
      "utf8",
    );
    const block = /```ts doc-example\n([\s\S]*?)```/.exec(md)?.[1];
    expect(block).toBeDefined();
    const code = block ?? "";
    const expected = [...code.matchAll(/\/\/ → (.*)$/gm)].map((m) => (m[1] as string).trim());
    expect(expected.length).toBeGreaterThan(0);
    const src = [
      'import { format as __format } from "node:util";',
      "export const __lines: string[] = [];",
      "const console = { log: (...a: unknown[]) => __lines.push(__format(...a)) };",
      code
        .replace('from "@kalandra/client/notify"', 'from "../../src/notify/index.js"')
        .replace('from "@kalandra/client"', 'from "../../src/index.js"'),
    ].join("\n");
    const file = fileURLToPath(new URL("./doc-example.generated.ts", import.meta.url));
    writeFileSync(file, src);
    try {
      const mod = (await import(/* @vite-ignore */ file)) as { __lines: string[] };
      expect(mod.__lines).toEqual(expected);
    } finally {
      rmSync(file, { force: true });
    }
  });
});
