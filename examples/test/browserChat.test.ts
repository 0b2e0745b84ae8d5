/**
 * examples/browser/chat.ts bundled as its header says (esbuild, platform browser) and run in
 * a page of headless Chromium against a real kalandrad: the page's user makes a room with
 * a Node user, says hello over WebSocket and gets the answer back.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { toHex } from "@kalandra/proto";
import { type Kalandrad, startKalandrad, tempDir } from "@kalandra/test-support";
import { bundleForBrowser, runScript, withChromium } from "@kalandra/test-support/browser";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openChat } from "../browser/chat.js";

const require = createRequire(import.meta.url);
const KALANDRAD = join(dirname(require.resolve("@kalandra/server")), "../bin/kalandrad.mjs");
const EXAMPLES = join(import.meta.dirname, "..");

const data = tempDir("example-browser");
let hub: Kalandrad;
const closers: (() => void)[] = [];

beforeAll(async () => {
  hub = await startKalandrad({ bin: KALANDRAD, dataDir: data.path, monitoringListen: "" });
});

afterAll(async () => {
  for (const c of closers) c();
  hub.child.kill("SIGTERM");
  await hub.exit;
  data.cleanup();
});

/** The page's script: chat.ts with a default export that reads the page's /config.json. */
const PAGE = `
  import { chatWith, openChat } from "./browser/chat.ts";
  export default async () => {
    const config = await (await fetch("/config.json")).json();
    const client = await openChat({ ...config, userId: "alice" });
    const answer = await chatWith(client, "bob", "hello from the browser");
    document.body.textContent = answer;
    client.close();
    return answer;
  };`;

it("a page chats with a Node user through kalandrad over WebSocket", async () => {
  // Bob, in Node (the same snippet runs there: \`ws\` stands in for the global WebSocket).
  const hubKeyHex = toHex(hub.hubKey);
  const bob = await openChat({ url: hub.websocket, hubKeyHex, userId: "bob" });
  closers.push(() => bob.close());
  const heard: string[] = [];
  bob.on((e) => {
    if (e.type !== "message" || e.own || e.envelope?.t !== "text") return;
    heard.push(`${e.userId}: ${e.envelope.body}`);
    void bob.send(e.roomId, { t: "reply", target: e.logIndex, body: "hello browser" });
  });

  const script = await bundleForBrowser(PAGE, EXAMPLES);
  const run = await withChromium((chromium) =>
    runScript<string>(chromium, {
      script,
      files: {
        "/config.json": JSON.stringify({ url: hub.websocket, hubKeyHex }),
      },
      timeoutMs: 60_000,
    }),
  );
  expect(run.result).toBe("hello browser");
  expect(heard).toEqual(["alice: hello from the browser"]);
  expect(run.pageErrors).toEqual([]);
});
