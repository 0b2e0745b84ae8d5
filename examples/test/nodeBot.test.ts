/**
 * examples/node-bot run as its README says (a child process under tsx, configured by the
 * environment) against a real kalandrad: a user adds it to a room, sees it online, sees it
 * type, and gets its reply.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { ClientEvent } from "@kalandra/client";
import { toHex } from "@kalandra/proto";
import { type Kalandrad, startKalandrad, tempDir, waitUntil } from "@kalandra/test-support";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openChat } from "../browser/chat.js";

const require = createRequire(import.meta.url);
const KALANDRAD = join(dirname(require.resolve("@kalandra/server")), "../bin/kalandrad.mjs");
const BOT = join(import.meta.dirname, "../node-bot/echoBot.ts");

const data = tempDir("example-bot");
let hub: Kalandrad;
let bot: ChildProcess | undefined;
let botOut = "";
const closers: (() => void)[] = [];

beforeAll(async () => {
  hub = await startKalandrad({ bin: KALANDRAD, dataDir: data.path, monitoringListen: "" });
});

afterAll(async () => {
  for (const c of closers) c();
  if (bot?.exitCode === null) bot.kill("SIGKILL");
  hub.child.kill("SIGTERM");
  await hub.exit;
  data.cleanup();
});

const until = (pred: () => boolean, what: string) =>
  waitUntil(pred, what, { timeoutMs: 30_000, intervalMs: 20, state: () => botOut });

it("the echo bot joins the room it is added to, shows itself online and typing, and replies", async () => {
  bot = spawn(process.execPath, ["--import", "tsx", BOT, "echo-bot"], {
    env: {
      ...process.env,
      KALANDRA_URL: hub.websocket,
      KALANDRA_HUB_KEY: toHex(hub.hubKey),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((r) => bot?.on("exit", (code) => r(code)));
  bot.stdout?.setEncoding("utf8").on("data", (d: string) => (botOut += d));
  bot.stderr?.setEncoding("utf8").on("data", (d: string) => (botOut += d));
  await until(() => botOut.includes("echo-bot ready as echo-bot"), "the bot is ready");

  // Alice uses the browser snippet's openChat, which runs in Node as well.
  const alice = await openChat({
    url: hub.websocket,
    hubKeyHex: toHex(hub.hubKey),
    userId: "alice",
  });
  closers.push(() => alice.close());
  const events: ClientEvent[] = [];
  alice.on((e) => events.push(e));
  const room = await alice.createRoom();
  await alice.addMembers(room, ["echo-bot"]);
  const sent = await alice.send(room, { t: "text", body: "hello bot" });

  const reply = () =>
    events.find(
      (e) => e.type === "message" && e.userId === "echo-bot" && e.envelope?.t === "reply",
    );
  await until(() => reply() !== undefined, "the bot's reply");
  const r = reply();
  expect(r?.type === "message" && r.envelope).toMatchObject({
    t: "reply",
    target: sent,
    body: "echo: hello bot",
  });
  // It typed before it replied (its "stopped typing" may overtake the reply's decryption).
  const typedAt = events.findIndex(
    (e) => e.type === "typing" && e.userId === "echo-bot" && e.typing,
  );
  expect(typedAt).toBeGreaterThanOrEqual(0);
  expect(typedAt).toBeLessThan(events.indexOf(r!));
  await until(
    () => events.some((e) => e.type === "typing" && e.userId === "echo-bot" && !e.typing),
    "the bot stops typing",
  );
  await until(
    () => alice.presence(room).present.some((p) => p.userId === "echo-bot"),
    "the bot's presence",
  );
  expect(alice.presence(room).present).toMatchObject([{ userId: "echo-bot", status: "online" }]);

  bot.kill("SIGTERM");
  expect(await exited).toBe(0);
});
