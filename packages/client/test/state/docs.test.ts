/** Runs the example in docs/client.md ("API") against the in-memory relay. */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { seededRng, suite } from "../support/env.js";
import { Relay } from "../support/relay.js";
import { World, waitEpoch } from "../support/world.js";

const DOC = fileURLToPath(new URL("../../../../docs/client.md", import.meta.url));

/** Writes a docs/client.md block as a module importing the package's source; runs `use`. */
async function withBlock<T>(tag: string, use: (mod: unknown) => Promise<T>): Promise<T> {
  const block = new RegExp(`\`\`\`ts ${tag}\n([\\s\\S]*?)\`\`\``).exec(
    readFileSync(DOC, "utf8"),
  )?.[1];
  expect(block, tag).toBeDefined();
  const src = (block ?? "").replace('from "@kalandra/client"', 'from "../../src/index.js"');
  const file = fileURLToPath(new URL(`./doc-${tag}.generated.ts`, import.meta.url));
  writeFileSync(file, src);
  try {
    return await use(await import(/* @vite-ignore */ file));
  } finally {
    rmSync(file, { force: true });
  }
}

describe("docs/client.md", () => {
  it("the API example runs", async () => {
    const md = readFileSync(DOC, "utf8");
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

  it("the Attachments example shares a file and its thumbnail", async () => {
    const w = await World.create("docs-attachments");
    const a = await w.client("alice");
    const b = await w.client("bob");
    const room = await a.client.createRoom();
    await a.client.addMembers(room, ["bob"]);
    await waitEpoch([a, b], room, 1n);
    const photo = seededRng("photo").bytes(300_000);
    const preview = seededRng("preview").bytes(900);
    const out = await withBlock("attachments-example", (mod) =>
      (
        mod as {
          shareFile: (...a: unknown[]) => Promise<{
            file: Uint8Array;
            thumb: Uint8Array;
            progress: { loaded: number; total: number }[];
          }>;
        }
      ).shareFile(a.client, b.client, room, photo, preview),
    );
    expect(out.file).toEqual(photo);
    expect(out.thumb).toEqual(preview);
    expect(out.progress.at(-1)).toEqual({ loaded: 300_016 + 916, total: 300_016 + 916 });
  });
});
