/**
 * The forensic test of DESIGN §5 / issue 3: after `secureDelete` returns, neither the key nor
 * the plaintext of an erased payload may be found in any byte of any file under the data
 * directory, even after churn that makes LMDB reuse and rewrite its pages. The scan reads
 * the raw files; as a control it must find every live key (in the vault) and every header,
 * so a scan that silently finds nothing cannot pass.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { frameKey } from "../../src/storage/keys.js";
import { openEnv } from "../../src/storage/lmdb/layout.js";
import { openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import { sealPayload } from "../../src/storage/seal.js";
import { entry, filesUnder, header, seededRng, tempDir, utf8 } from "./helpers.js";

interface Written {
  room: bigint;
  index: bigint;
  plaintext: Uint8Array;
  marker: Uint8Array;
  key: Uint8Array;
  deleted: boolean;
}

function plaintextFor(
  tag: string,
  room: bigint,
  index: bigint,
): { plaintext: Uint8Array; marker: Uint8Array } {
  const marker = `KLDR-FORENSIC-${tag}-${room}-${index}-`;
  const filler = createHash("sha256").update(marker).digest("hex");
  return { plaintext: utf8(`${marker}${filler}${filler}${marker}`), marker: utf8(marker) };
}

const d = tempDir("forensic");
const control = tempDir("forensic-control");
afterAll(() => {
  d.cleanup();
  control.cleanup();
});

describe("forensic scan of the data directory", () => {
  it("control: a row deleted from LMDB survives in the file (why keys are not kept there)", async () => {
    const secret = utf8("KLDR-CONTROL-A-KEY-KEPT-IN-LMDB-WOULD-SURVIVE-DELETION");
    const env = openEnv(control.path);
    await env.root.transaction(() => env.tables.payload_keys.putSync(frameKey(1n, 0n), secret));
    await env.root.transaction(() => env.tables.payload_keys.removeSync(frameKey(1n, 0n)));
    expect(env.tables.payload_keys.get(frameKey(1n, 0n))).toBeUndefined();
    await env.root.close();
    const bytes = readFileSync(join(control.path, "data.mdb"));
    expect(bytes.indexOf(Buffer.from(secret))).not.toBe(-1);
  });

  it("finds no key and no plaintext of an erased payload in any file", async () => {
    const s = await openLmdbStorage({ path: d.path, rng: seededRng("forensic") });
    const written: Written[] = [];
    const write = async (tag: string, room: bigint, n: number): Promise<void> => {
      const start = s.nextIndex(room);
      const batch = [];
      for (let i = 0; i < n; i++) {
        const index = start + BigInt(i);
        const { plaintext, marker } = plaintextFor(tag, room, index);
        batch.push(entry(room, index, plaintext, { userId: `user-${room}` }));
        written.push({ room, index, plaintext, marker, key: new Uint8Array(), deleted: false });
      }
      await s.append(batch);
      for (const w of written.slice(-n)) {
        const key = s.inspectPayloadKey(w.room, w.index);
        if (key === undefined) throw new Error("no key for a live frame");
        w.key = key;
      }
    };
    const erase = async (pick: (w: Written, i: number) => boolean): Promise<void> => {
      const targets = written.filter((w, i) => !w.deleted && pick(w, i));
      for (const w of targets) {
        expect(await s.secureDelete(w.room, w.index)).toBe(true);
        w.deleted = true;
      }
    };

    // Phase 1: frames in three rooms, erase a third of them and the whole start of room 2.
    for (const room of [1n, 2n, 3n]) {
      for (let b = 0; b < 4; b++) await write("P1", room, 25);
    }
    await erase((w, i) => i % 3 === 0 || (w.room === 2n && w.index < 10n));
    // Phase 2: churn, so LMDB frees, reuses and rewrites pages and vault slots get reused.
    for (let round = 0; round < 6; round++) {
      await write(`CHURN${round}`, 4n, 60);
      await s.putRoomState(4n, new Uint8Array(3000).fill(round));
      await erase((w) => w.room === 4n && w.index % 2n === BigInt(round % 2));
    }
    // Phase 3: erase some of the churn survivors and some phase-1 frames late.
    await erase((_w, i) => i % 7 === 1);
    await s.close();

    const deleted = written.filter((w) => w.deleted);
    const live = written.filter((w) => !w.deleted);
    expect(deleted.length).toBeGreaterThan(150);
    expect(live.length).toBeGreaterThan(150);

    const files = filesUnder(d.path).map((p) => ({ p, bytes: readFileSync(p) }));
    expect(files.map((f) => f.p.slice(d.path.length + 1)).sort()).toEqual(
      expect.arrayContaining(["data.mdb", "keys.vault"]),
    );
    const foundIn = (needle: Uint8Array): string[] =>
      files.filter((f) => f.bytes.indexOf(needle) !== -1).map((f) => f.p);

    // Control: the scan does find what must be there.
    for (const w of live) expect(foundIn(w.key), `live key ${w.room}/${w.index}`).not.toEqual([]);
    for (const w of written) {
      expect(
        foundIn(header(w.room, w.index).subarray(64, 96)),
        `header ${w.room}/${w.index}`,
      ).not.toEqual([]);
    }
    // The property: no erased key, no erased plaintext; plaintext never reaches disk at all.
    for (const w of deleted) {
      expect(foundIn(w.key), `erased key ${w.room}/${w.index}`).toEqual([]);
      expect(foundIn(w.key.subarray(0, 16)), `half of erased key ${w.room}/${w.index}`).toEqual([]);
    }
    for (const w of written) {
      expect(foundIn(w.marker), `plaintext ${w.room}/${w.index}`).toEqual([]);
    }
    // For the record (docs/storage.md): LMDB copy-on-write leaves sealed payloads of erased
    // frames in free pages. They are harmless without their keys, which is why keys live in
    // the vault and are overwritten in place.
    const leftovers = deleted.filter(
      (w) => foundIn(sealPayload(w.key, frameKey(w.room, w.index), w.plaintext)).length > 0,
    ).length;
    console.log(
      `forensic: ${deleted.length} erased, ${live.length} live, ${leftovers} erased ciphertexts still in LMDB free pages`,
    );

    // And the storage still reads back exactly: tombstones for erased frames.
    const again = await openLmdbStorage({ path: d.path });
    for (const w of written) {
      const [f] = again.readRange(w.room, w.index, 1);
      expect(f?.header).toEqual(header(w.room, w.index));
      expect(f?.payload ?? null).toEqual(w.deleted ? null : w.plaintext);
    }
    await again.close();
  });
});
