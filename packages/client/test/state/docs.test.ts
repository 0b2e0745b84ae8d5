/** Runs the example in docs/client.md ("API") against the in-memory relay. */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { seededRng, suite } from "../support/env.js";
import { Relay } from "../support/relay.js";

describe("docs/client.md", () => {
  it("the API example runs", async () => {
    const md = readFileSync(
      fileURLToPath(new URL("../../../../docs/client.md", import.meta.url)),
      "utf8",
    );
    const block = /```ts example\n([\s\S]*?)```/.exec(md)?.[1];
    expect(block).toBeDefined();
    const src = (block ?? "").replace('from "@kalandra/client"', 'from "../../src/index.js"');
    const file = fileURLToPath(new URL("./doc-example.generated.ts", import.meta.url));
    writeFileSync(file, src);
    try {
      const mod = (await import(/* @vite-ignore */ file)) as {
        example(a: unknown, b: unknown, hub: Uint8Array): Promise<string>;
      };
      const relay = new Relay({ cs: await suite("docs"), rng: seededRng("docs/hub") });
      expect(await mod.example(relay.connect(), relay.connect(), relay.hubPublicKey)).toBe(
        "hello bob",
      );
    } finally {
      rmSync(file, { force: true });
    }
  });
});
