/** The byte formats of a backup: the erasure journal, sealed chunks, the wrapped key, the manifest. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { decodeJournal, encodeJournal } from "../../src/storage/lmdb/backup/journal.js";
import { readManifest } from "../../src/storage/lmdb/backup/manifest.js";
import {
  openChunk,
  sealChunk,
  unwrapBackupKey,
  wrapBackupKey,
} from "../../src/storage/lmdb/backup/sealing.js";
import { tempDir } from "../storage/helpers.js";

const u128 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const tmp = tempDir("backup-codecs");
afterAll(() => tmp.cleanup());

describe("erasure journal", () => {
  it("round-trips as a sorted set of frames", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ roomId: u128, logIndex: u64 }), { maxLength: 40 }),
        (entries) => {
          const decoded = decodeJournal(encodeJournal([...entries, ...entries]));
          const key = (e: { roomId: bigint; logIndex: bigint }) =>
            `${e.roomId.toString(16).padStart(32, "0")}${e.logIndex.toString(16).padStart(16, "0")}`;
          expect(decoded.map(key)).toEqual([...new Set(entries.map(key))].sort());
        },
      ),
    );
  });

  it("refuses what is not a journal", () => {
    const good = encodeJournal([{ roomId: 1n, logIndex: 2n }]);
    expect(() => decodeJournal(good.subarray(0, good.length - 1))).toThrow(/do not fit its length/);
    expect(() => decodeJournal(new Uint8Array(20))).toThrow(/not an erasure journal/);
  });
});

describe("sealing", () => {
  it("a chunk opens only with its key, backup, stream and position, unaltered", () => {
    fc.assert(
      fc.property(
        bytes(32),
        bytes(16),
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.nat(1000),
        (key, id, pt, at) => {
          const sealed = sealChunk(key, id, 3, 5, pt);
          expect(openChunk(key, id, 3, 5, sealed)).toEqual(pt);
          expect(() => openChunk(key, id, 3, 6, sealed)).toThrow(/does not authenticate/);
          expect(() => openChunk(key, id, 4, 5, sealed)).toThrow(/does not authenticate/);
          const flipped = sealed.slice();
          flipped[at % flipped.length] = (flipped[at % flipped.length] as number) ^ 0x40;
          expect(() => openChunk(key, id, 3, 5, flipped)).toThrow(/does not authenticate/);
        },
      ),
      { numRuns: 50 },
    );
  });

  it("the wrapped backup key unwraps only with the key file's key and for its backup", () => {
    const master = new Uint8Array(32).fill(7);
    const id = new Uint8Array(16).fill(1);
    const key = new Uint8Array(32).fill(9);
    const wrapped = wrapBackupKey(master, id, key);
    expect(unwrapBackupKey(master, id, wrapped)).toEqual(key);
    expect(() => unwrapBackupKey(new Uint8Array(32), id, wrapped)).toThrow(/does not authenticate/);
    expect(() => unwrapBackupKey(master, new Uint8Array(16), wrapped)).toThrow(
      /does not authenticate/,
    );
    expect(() => unwrapBackupKey(master, id, wrapped.slice(2))).toThrow(/wrong length/);
  });
});

describe("manifest", () => {
  const dirWith = (name: string, m: unknown): string => {
    const dir = join(tmp.path, name);
    mkdirSync(dir);
    writeFileSync(join(dir, "manifest.json"), typeof m === "string" ? m : JSON.stringify(m));
    return dir;
  };
  const valid = {
    kind: "kalandra-backup",
    version: 1,
    id: "0".repeat(32),
    created_at: 1,
    finished_at: 2,
    hub_public_key: "",
    format: 1,
    layout: null,
    backup_key: { key_id: "0".repeat(16), wrapped: "00" },
    envs: [
      {
        name: "main",
        dir: "",
        stream: 0,
        vault_slots: 0,
        live_keys: 0,
        audit_records: 0,
        rooms: {},
      },
    ],
    journal_entries: 0,
    files: { "journal.bin": { bytes: 16, sha256: "0".repeat(64) } },
  };

  it("reads a well-formed manifest and names what is wrong in others", () => {
    expect(readManifest(dirWith("ok", valid)).id).toBe("0".repeat(32));
    expect(() => readManifest(dirWith("json", "{"))).toThrow(/not JSON/);
    expect(() => readManifest(dirWith("kind", { ...valid, kind: "x" }))).toThrow(
      /not a kalandra backup/,
    );
    expect(() => readManifest(dirWith("ver", { ...valid, version: 2 }))).toThrow(
      /unknown manifest version 2/,
    );
    expect(() =>
      readManifest(dirWith("escape", { ...valid, files: { "../x": valid.files["journal.bin"] } })),
    ).toThrow(/leaves the backup/);
    expect(() =>
      readManifest(dirWith("env", { ...valid, envs: [{ ...valid.envs[0], dir: "../etc" }] })),
    ).toThrow(/envs\[0\] has no valid name and dir/);
    expect(() =>
      readManifest(dirWith("rooms", { ...valid, envs: [{ ...valid.envs[0], rooms: { x: "1" } }] })),
    ).toThrow(/malformed entry/);
  });
});
