/**
 * The ★ rule of issue 16 (docs/storage.md "Backups and erasure"): erase after backup N, take
 * backup N+1, restore N with N+1's erasure journal — no file of the restored directory nor
 * of either backup holds the erased message's key or plaintext, and every message that was
 * not erased still reads back. The control restores N without the newer journal and finds
 * the message readable again: the journal is what keeps it erased.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBackup } from "../../src/storage/lmdb/backup/create.js";
import { BackupError } from "../../src/storage/lmdb/backup/errors.js";
import { restoreBackup } from "../../src/storage/lmdb/backup/restore.js";
import { verifyBackup } from "../../src/storage/lmdb/backup/verify.js";
import { type LmdbStorage, openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import { tempDir } from "../storage/helpers.js";
import { filesHolding, HubDir, type Message } from "./fixture.js";

const tmp = tempDir("backup-erasure");
const data = join(tmp.path, "data");
const backups = join(tmp.path, "backups");
const keyFile = join(tmp.path, "backup.key");
const N = join(backups, "n");
const N1 = join(backups, "n1");
let hub: HubDir;
let erased: Message[];
let afterN: Message[];

beforeAll(async () => {
  hub = await HubDir.create(data, "erasure");
  await hub.send(0, 1n, 20);
  await hub.send(1, 2n, 20);
  await hub.send(0, 3n, 5);
  let clock = 1_000;
  await createBackup({
    dataDir: data,
    hubKeyPath: join(data, "hub-key.pem"),
    out: N,
    keyFile,
    now: () => clock++,
  });
  // Erase one message of each shard after backup N, then keep writing.
  erased = [hub.messages[3] as Message, hub.messages[25] as Message];
  for (const m of erased) await hub.erase(m);
  afterN = [...(await hub.send(0, 1n, 3)), ...(await hub.send(1, 2n, 3))];
  clock = 5_000;
  await createBackup({
    dataDir: data,
    hubKeyPath: join(data, "hub-key.pem"),
    out: N1,
    keyFile,
    now: () => clock++,
  });
  await hub.close();
});
afterAll(() => tmp.cleanup());

async function openRestored(dir: string): Promise<LmdbStorage[]> {
  return [
    await openLmdbStorage({ path: join(dir, "shard-0"), noSync: true }),
    await openLmdbStorage({ path: join(dir, "shard-1"), noSync: true }),
  ];
}

function payloadOf(shards: LmdbStorage[], m: Message): Uint8Array | null | undefined {
  return (shards[m.shard] as LmdbStorage).readRange(m.room, m.index, 1)[0]?.payload;
}

describe("erasure survives restore", () => {
  it("restoring N with N+1's journal: the erased key and plaintext are in no file, the rest reads back", async () => {
    const into = join(tmp.path, "restored-explicit");
    const r = await restoreBackup({ from: N, into, keyFile, journals: [N1], discover: false });
    expect(r.erased).toBe(2);
    for (const dir of [into, N, N1]) {
      for (const m of erased) {
        expect(filesHolding(dir, m.key), `key of ${m.room}/${m.index} in ${dir}`).toEqual([]);
        expect(filesHolding(dir, m.plaintext), `plaintext in ${dir}`).toEqual([]);
      }
    }
    const shards = await openRestored(into);
    try {
      for (const m of hub.messages) {
        const got = payloadOf(shards, m);
        if (erased.includes(m)) expect(got, `${m.room}/${m.index} erased`).toBeNull();
        else if (afterN.includes(m)) expect(got, `${m.room}/${m.index} is after N`).toBeUndefined();
        else expect(got, `${m.room}/${m.index}`).toEqual(m.plaintext);
      }
      // Control for the scan: the restored vault does hold the live keys in clear.
      const live = hub.messages.find((m) => !erased.includes(m) && !afterN.includes(m)) as Message;
      expect(filesHolding(into, live.key)).toEqual([
        join(into, `shard-${live.shard}`, "keys.vault"),
      ]);
      // The applied erasures are audited, so the restored hub's own backups carry them on.
      const audit = (shards[0] as LmdbStorage).readAudit().filter((a) => a.actor === "restore");
      expect(audit.map((a) => [a.roomId, a.detail.log_index])).toEqual([[1n, 3n]]);
      expect((shards[0] as LmdbStorage).verifyAudit().ok).toBe(true);
    } finally {
      for (const s of shards) await s.close();
    }
  });

  it("restoring N finds N+1 beside it and applies its journal on its own", async () => {
    const into = join(tmp.path, "restored-discovered");
    const r = await restoreBackup({ from: N, into, keyFile });
    expect(r.journalsFrom).toEqual([N, N1]);
    const shards = await openRestored(into);
    try {
      for (const m of erased) expect(payloadOf(shards, m)).toBeNull();
    } finally {
      for (const s of shards) await s.close();
    }
    for (const m of erased) expect(filesHolding(into, m.key)).toEqual([]);
  });

  it("control: without the newer journal, N alone brings the erased message back", async () => {
    const into = join(tmp.path, "restored-alone");
    const r = await restoreBackup({ from: N, into, keyFile, discover: false });
    expect(r.erased).toBe(0);
    const shards = await openRestored(into);
    try {
      for (const m of erased) expect(payloadOf(shards, m)).toEqual(m.plaintext);
    } finally {
      for (const s of shards) await s.close();
    }
  });

  it("a backup holds no payload key in clear, and restoring N+1 keeps what it erased", async () => {
    for (const m of hub.messages) {
      expect(filesHolding(N, m.key)).toEqual([]);
      expect(filesHolding(N1, m.key)).toEqual([]);
    }
    const into = join(tmp.path, "restored-n1");
    await restoreBackup({ from: N1, into, keyFile });
    const shards = await openRestored(into);
    try {
      for (const m of hub.messages) {
        expect(payloadOf(shards, m)).toEqual(erased.includes(m) ? null : m.plaintext);
      }
    } finally {
      for (const s of shards) await s.close();
    }
    expect(readFileSync(join(into, "hub-key.pem"), "utf8")).toBe(
      readFileSync(join(data, "hub-key.pem"), "utf8"),
    );
  });
});

describe("verify and refusals", () => {
  it("verify checks the files, and with the key opens every live frame's payload", async () => {
    const shallow = await verifyBackup(N1);
    expect(shallow).toMatchObject({ rooms: 3, framesOpened: 0, deep: false });
    const deep = await verifyBackup(N1, { keyFile });
    expect(deep.framesOpened).toBe(hub.messages.length - erased.length);
    expect(deep.manifest.journal_entries).toBe(2);
    expect(deep.manifest.envs.map((e) => e.name)).toEqual(["main", "shard-0", "shard-1"]);
    expect(deep.manifest.envs[1]?.rooms).toEqual({
      [1n.toString(16).padStart(32, "0")]: "22",
      [3n.toString(16).padStart(32, "0")]: "4",
    });
  });

  it("verify names a file whose bytes changed", async () => {
    const copy = join(tmp.path, "tampered");
    mkdirSync(copy);
    for (const f of [
      "manifest.json",
      "journal.bin",
      "blob-journal.bin",
      "shards.json",
      "hub-key.sealed",
    ]) {
      writeFileSync(join(copy, f), readFileSync(join(N1, f)));
    }
    for (const d of ["", "shard-0", "shard-1"]) {
      mkdirSync(join(copy, d), { recursive: true });
      for (const f of ["data.mdb", "keys.sealed"])
        writeFileSync(join(copy, d, f), readFileSync(join(N1, d, f)));
    }
    await expect(verifyBackup(copy)).resolves.toMatchObject({ rooms: 3 });
    const sealed = readFileSync(join(copy, "shard-1", "keys.sealed"));
    sealed[10] = (sealed[10] as number) ^ 1;
    writeFileSync(join(copy, "shard-1", "keys.sealed"), sealed);
    await expect(verifyBackup(copy)).rejects.toThrow(
      /shard-1\/keys\.sealed differs from the manifest/,
    );
  });

  it("restore refuses a non-empty directory, another key and a newer data format", async () => {
    const full = join(tmp.path, "full");
    mkdirSync(full);
    writeFileSync(join(full, "x"), "x");
    await expect(restoreBackup({ from: N, into: full, keyFile })).rejects.toMatchObject({
      code: "NOT_EMPTY",
    });
    const other = join(tmp.path, "other.key");
    writeFileSync(other, `${"ab".repeat(32)}\n`);
    const err = await restoreBackup({
      from: N,
      into: join(tmp.path, "r-other"),
      keyFile: other,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).code).toBe("KEY");
    const newer = join(tmp.path, "newer");
    mkdirSync(newer);
    const m = JSON.parse(readFileSync(join(N, "manifest.json"), "utf8"));
    writeFileSync(join(newer, "manifest.json"), JSON.stringify({ ...m, format: 99 }));
    await expect(
      restoreBackup({ from: newer, into: join(tmp.path, "r-newer"), keyFile }),
    ).rejects.toThrow(/data format 99; this kalandrad reads up to format 1/);
  });

  it("create refuses a non-empty target and a key file inside the data directory", async () => {
    await expect(
      createBackup({ dataDir: data, hubKeyPath: join(data, "hub-key.pem"), out: N, keyFile }),
    ).rejects.toMatchObject({ code: "NOT_EMPTY" });
    await expect(
      createBackup({
        dataDir: data,
        hubKeyPath: join(data, "hub-key.pem"),
        out: join(tmp.path, "b3"),
        keyFile: join(data, "k"),
      }),
    ).rejects.toMatchObject({ code: "KEY" });
  });
});
