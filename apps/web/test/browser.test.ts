/**
 * The web app in a real browser (issue 14): kalandrad serves the built app
 * (`web.static_dir`) and two Chromium contexts — two people — use it. Alice signs in,
 * creates a room and invites Bob by his user id; they write both ways; Alice deletes one
 * of Bob's messages and both see it deleted; the hub is restarted (SIGTERM, same data
 * directory and port) and the conversation continues; Alice reloads her page and is back
 * with her device and history (IndexedDB); Bob leaves and both see it. Bob also replies,
 * reacts, and Alice edits her message; presence and typing show. Alice sends a picture,
 * which Bob sees inline (thumbnail made on a canvas, then the picture), and a file of two
 * chunks, which Bob downloads byte for byte (issue 17). Screenshots of both windows are
 * saved in apps/web/test-results/ (the test's artifact).
 */

import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";
import { freePort, type Kalandrad, startKalandrad, tempDir, within } from "@kalandra/test-support";
import { type Chromium, type Page, withChromium } from "@kalandra/test-support/browser";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildWebApp } from "../build.js";

const here = dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = join(here, "..", "test-results");
const BIN = join(
  dirname(createRequire(import.meta.url).resolve("@kalandra/server")),
  "../bin/kalandrad.mjs",
);
/** Real ms any one step in a page may take. */
const STEP_MS = 30_000;

const data = tempDir("web-app-hub");
const site = tempDir("web-app-dist");
let hub: Kalandrad | undefined;
let ports: { wt: number; ws: number };

function startHub(): Promise<Kalandrad> {
  return startKalandrad({
    bin: BIN,
    dataDir: data.path,
    listen: `127.0.0.1:${ports.wt}`,
    websocketListen: `127.0.0.1:${ports.ws}`,
    monitoringListen: "",
    env: { KALANDRA_WEB__STATIC_DIR: site.path },
  });
}

async function stopHub(): Promise<void> {
  const h = hub;
  hub = undefined;
  if (h !== undefined && h.child.exitCode === null && h.child.signalCode === null) {
    h.child.kill("SIGTERM");
    await within(h.exit, 20_000, "kalandrad to exit");
  }
}

beforeAll(async () => {
  await buildWebApp(site.path, { minify: false });
  ports = { wt: await freePort(), ws: await freePort() };
  hub = await startHub();
});

afterAll(async () => {
  await stopHub();
  data.cleanup();
  site.cleanup();
});

/** Opens the app in a fresh context (its own IndexedDB) and signs in as `user`. */
async function signIn(chromium: Chromium, user: string, errors: string[]): Promise<Page> {
  const page = await chromium.newPage();
  page.setDefaultTimeout(STEP_MS);
  await page.setViewportSize({ width: 1100, height: 720 });
  page.on("pageerror", (e) => errors.push(`${user}: ${e.message}`));
  await page.goto(`http://127.0.0.1:${ports.ws}/`);
  await page.fill("#signin-user", user);
  await page.click("#signin-submit");
  await page.waitForSelector("#status.open");
  expect(await page.textContent("#me")).toBe(user);
  return page;
}

/** CRC-32 (ISO-HDLC) of PNG chunks. */
function crc32(b: Uint8Array): number {
  let c = ~0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** A real PNG of `w`×`h` pixels (a colour gradient): something a browser decodes. */
function png(w: number, h: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const rows = Buffer.alloc(h * (1 + 3 * w));
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) rows.set([x % 256, y % 256, 160], y * (1 + 3 * w) + 1 + 3 * x);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(rows)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Sends a message from the open room's composer. */
async function say(page: Page, text: string): Promise<void> {
  await page.fill("#composer-input", text);
  await page.press("#composer-input", "Enter");
}

/** Waits until the open room shows a message with this text. */
async function sees(page: Page, text: string): Promise<void> {
  await page.locator(".message .body", { hasText: text }).first().waitFor();
}

it("two people chat, a deletion shows on both sides, and the chat survives a hub restart", async () => {
  const errors: string[] = [];
  await withChromium(async (chromium) => {
    const alice = await signIn(chromium, "alice", errors);
    const bob = await signIn(chromium, "bob", errors);
    try {
      await conversation(alice, bob);
    } catch (e) {
      // What each person saw when it failed.
      await alice.screenshot({ path: join(ARTIFACTS, "web-app-failed-alice.png") });
      await bob.screenshot({ path: join(ARTIFACTS, "web-app-failed-bob.png") });
      throw e;
    }
  });
  expect(errors).toEqual([]);
}, 120_000);

async function conversation(alice: Page, bob: Page): Promise<void> {
  await alice.click("#new-room");
  await alice.waitForSelector("#invite-user");
  await alice.fill("#invite-user", "bob");
  await alice.click("#invite-submit");
  // Bob's room appears by itself (the Welcome) and opens as his first room.
  await bob.waitForSelector(".room .title:text('alice')");
  await alice.waitForSelector("#room-title:text('bob')");
  await alice.locator(".notice", { hasText: "bob joined the room" }).waitFor();

  // Presence: each sees the other online. Typing shows while Alice writes, and stops
  // when she sends.
  await bob.locator(".member.online", { hasText: "alice" }).waitFor();
  await alice.locator(".member.online", { hasText: "bob" }).waitFor();
  await alice.locator("#composer-input").pressSequentially("Hello");
  await bob.locator("#typing", { hasText: "alice is typing…" }).waitFor();
  await bob.screenshot({ path: join(ARTIFACTS, "web-app-bob-typing.png") });
  await alice.fill("#composer-input", "");
  await say(alice, "Hello Bob, this room is end-to-end encrypted.");
  await bob.waitForFunction(() => document.getElementById("typing")?.textContent === "");
  await sees(bob, "Hello Bob");
  const hello = (page: Page) =>
    page.locator(".message").filter({ has: page.locator(".body", { hasText: "Hello Bob" }) });

  // Bob replies to it and reacts; Alice edits it.
  await hello(bob).hover();
  await hello(bob).locator(".action-reply").click();
  await say(bob, "Nice. Can the hub read this?");
  await sees(alice, "Can the hub read this?");
  const reply = alice.locator(".message", { hasText: "Can the hub read this?" });
  expect(await reply.locator(".quote").textContent()).toContain("alice: Hello Bob");
  await hello(bob).hover();
  await hello(bob).locator(".action-react").first().click();
  await hello(alice).locator(".reaction", { hasText: "1" }).waitFor();
  await hello(alice).hover();
  await hello(alice).locator(".action-edit").click();
  await alice.fill("#composer-input", "Hello Bob, this room is end-to-end encrypted (MLS).");
  await alice.press("#composer-input", "Enter");
  await sees(bob, "end-to-end encrypted (MLS).");
  expect(await hello(bob).locator(".edited").count()).toBe(1);

  await say(bob, "Hi Alice! Sending something I will regret");
  await sees(alice, "something I will regret");

  // Alice (the room's owner) deletes Bob's message: two clicks, no dialog.
  const regret = alice.locator(".message", { hasText: "something I will regret" });
  await regret.hover();
  await regret.locator(".action-delete").click();
  await regret.locator(".action-delete").click();
  await bob.locator(".message.redacted").waitFor();
  await alice.locator(".message.redacted").waitFor();
  expect(await bob.locator(".message.redacted .body").textContent()).toBe(
    "This message was deleted.",
  );
  expect(await bob.locator(".message .body", { hasText: "regret" }).count()).toBe(0);

  // The hub goes away and comes back on the same port and data directory.
  await stopHub();
  await alice.waitForSelector("#status.connecting");
  hub = await startHub();
  await alice.waitForSelector("#status.open");
  await bob.waitForSelector("#status.open");
  await say(alice, "Still there after the restart?");
  await sees(bob, "Still there after the restart?");
  await say(bob, "Yes, still here.");
  await sees(alice, "Yes, still here.");

  // A reload keeps the device (IndexedDB) and the conversation: Alice is back in the room
  // without signing in again, and writes from the restored device.
  await alice.reload();
  await alice.waitForSelector("#status.open");
  await sees(alice, "Yes, still here.");
  await say(alice, "Reloaded my page.");
  await sees(bob, "Reloaded my page.");

  // Attachments: a picture shows inline on Bob's side (the 400 px picture replaces its
  // 240 px thumbnail), a file of two chunks downloads byte for byte.
  await alice.setInputFiles("#composer-file", {
    name: "gradient.png",
    mimeType: "image/png",
    buffer: png(400, 300),
  });
  const picture = bob.locator(".message .attachment.image img");
  await picture.waitFor();
  await bob.waitForFunction(
    () =>
      (document.querySelector(".attachment.image img") as HTMLImageElement | null)?.naturalWidth ===
      400,
  );
  expect(await bob.locator(".attachment.image .body").textContent()).toBe("gradient.png");
  const notes = Buffer.from("Meeting notes\n".repeat(30_000)); // 420 kB: two chunks
  await alice.setInputFiles("#composer-file", {
    name: "notes.txt",
    mimeType: "text/plain",
    buffer: notes,
  });
  const file = bob.locator(".message .attachment.file", { hasText: "notes.txt" });
  await file.waitFor();
  await bob.screenshot({ path: join(ARTIFACTS, "web-app-bob-attachments.png") });
  const [download] = await Promise.all([
    bob.waitForEvent("download"),
    file.locator(".action-download").click(),
  ]);
  expect(download.suggestedFilename()).toBe("notes.txt");
  expect(Buffer.compare(await readFile(await download.path()), notes)).toBe(0);
  await alice.locator(".message .attachment.file", { hasText: "notes.txt" }).waitFor();

  // Bob leaves (two clicks); Alice's client commits his removal and both see it.
  await bob.click(".action-leave");
  await bob.click(".action-leave");
  await alice.locator(".notice", { hasText: "bob left the room" }).waitFor();
  await bob.locator(".notice", { hasText: "no longer a member" }).waitFor();
  expect(await bob.locator("#composer-input").isDisabled()).toBe(true);

  await alice.screenshot({ path: join(ARTIFACTS, "web-app-alice.png") });
  await bob.screenshot({ path: join(ARTIFACTS, "web-app-bob.png") });
  const texts = await bob.locator(".message .body").allTextContents();
  expect(texts).toEqual([
    "Hello Bob, this room is end-to-end encrypted (MLS).",
    "Nice. Can the hub read this?",
    "This message was deleted.",
    "Still there after the restart?",
    "Yes, still here.",
    "Reloaded my page.",
    "gradient.png",
    "notes.txt",
  ]);
}
