/**
 * The push decryptor runs in a fresh Node process capped at 20 MB of old-space heap
 * (issue 4): spawn `node --max-old-space-size=20 --import tsx` on a tiny script that
 * loads the blob through `@kalandra/client/notify`, decrypts one message and reports
 * its heap.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { seededRng, tempDir } from "@kalandra/test-support";
import { describe, expect, it } from "vitest";
import { createEnvelope, encodeEnvelope } from "../../src/envelope/index.js";
import { exportNotificationKeys } from "../../src/notify/export.js";
import type { EpochSenderKeys } from "../../src/senderkeys/index.js";
import { EPOCH, members, ROOM } from "../senderkeys/helpers.js";

const here = dirname(fileURLToPath(import.meta.url));
const pkgRoot = resolve(here, "../..");
// tsx is a root devDependency: resolve it the way Node does from this package.
const tsxLoader = pathToFileURL(createRequire(join(pkgRoot, "package.json")).resolve("tsx")).href;
const HEAP_LIMIT = 20 * 1024 * 1024;

describe("notification decryptor in a fresh process", () => {
  it("decrypts a pushed message under a 20 MB heap", () => {
    const group = members(100);
    const sender = group[42] as EpochSenderKeys;
    const phone = group[7] as EpochSenderKeys;
    const blob = exportNotificationKeys([phone]);
    const env = createEnvelope(
      { t: "text", body: "ping from leaf 42" },
      { clock: { now: () => 1_700_000_000_000n }, rng: seededRng(3) },
    );
    sender.seal(encodeEnvelope(env)); // generation 0 never reaches the phone
    const m = sender.seal(encodeEnvelope(env));
    const tmp = tempDir("notify");
    const dir = tmp.path;
    try {
      const blobFile = join(dir, "keys.bin");
      writeFileSync(blobFile, blob);
      const msg = JSON.stringify({
        roomId: ROOM.toString(),
        epoch: EPOCH.toString(),
        senderLeaf: 42,
        generation: m.generation,
        ciphertext: Buffer.from(m.ciphertext).toString("hex"),
      });
      const r = spawnSync(
        process.execPath,
        [
          "--max-old-space-size=20",
          "--import",
          tsxLoader,
          join(here, "fixtures/pushDecrypt.ts"),
          blobFile,
          msg,
        ],
        { cwd: pkgRoot, encoding: "utf8", timeout: 30_000 },
      );
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      const lines = r.stdout.trim().split("\n");
      const out = JSON.parse(lines[lines.length - 1] as string);
      expect(out).toMatchObject({ t: "text", body: "ping from leaf 42", sent_at: "1700000000000" });
      console.info(
        `[notify] fresh process heapUsed ${(out.heapUsed / 1e6).toFixed(2)} MB, blob ${blob.length} B`,
      );
      expect(out.heapUsed).toBeLessThan(HEAP_LIMIT);
    } finally {
      tmp.cleanup();
    }
  });
});
