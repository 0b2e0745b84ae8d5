/** What only a file-backed storage can show: reopening, recovery, corruption, locking. */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { StorageError } from "../../src/storage/errors.js";
import { frameKey, u64Key } from "../../src/storage/keys.js";
import { META, openEnv, VAULT_FILE } from "../../src/storage/lmdb/layout.js";
import { type LmdbStorage, openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import { SLOT_BYTES, VAULT_HEADER_BYTES } from "../../src/storage/lmdb/vault.js";
import { verifyAuditLog } from "../../src/storage/lmdb/verifyLog.js";
import { entry, header, seededRng, tempDir, utf8 } from "./helpers.js";

const dirs: (() => void)[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d();
});

function dir(label: string): string {
  const d = tempDir(label);
  dirs.push(d.cleanup);
  return d.path;
}

const open = (path: string): Promise<LmdbStorage> =>
  openLmdbStorage({ path, rng: seededRng(path), clock: { now: () => 1234n } });

const text = (b: Uint8Array | null | undefined): string | null =>
  b === null || b === undefined ? null : new TextDecoder().decode(b);

function vaultSlot(path: string, slot: number): Uint8Array {
  const bytes = readFileSync(join(path, VAULT_FILE));
  return bytes.subarray(
    VAULT_HEADER_BYTES + slot * SLOT_BYTES,
    VAULT_HEADER_BYTES + (slot + 1) * SLOT_BYTES,
  );
}

describe("LMDB storage across reopen", () => {
  it("restores frames, rooms, responses, key packages and the audit chain exactly", async () => {
    const path = dir("reopen");
    let s = await open(path);
    await s.putRoom(
      { roomId: 9n, createdAt: 77n, settings: { retention_days: 7, name: "x" } },
      utf8("state0"),
    );
    await s.append([
      entry(9n, 0n, "m0", { userId: "alice", senderId: 5n, requestId: 1, response: utf8("ack0") }),
      entry(9n, 1n, "m1", { userId: "bob", roomState: utf8("state1") }),
      entry(9n, 2n, "m2", { userId: "alice" }),
    ]);
    await s.putResponse(5n, 99, utf8("refused"));
    await s.putKeyPackages([
      {
        ref: utf8("r1"),
        senderId: 3n,
        userId: "carol",
        data: utf8("k1"),
        lastResort: false,
        notAfter: 10n,
      },
      {
        ref: utf8("r2"),
        senderId: 3n,
        userId: "carol",
        data: utf8("k2"),
        lastResort: true,
        notAfter: 10n,
      },
    ]);
    await s.appendAudit({
      kind: "ban",
      at: 5n,
      roomId: 9n,
      actor: "op",
      detail: { user_id: "eve" },
    });
    expect(await s.secureDelete(9n, 1n, { actor: "op", reason: "spam" })).toBe(true);
    const before = {
      frames: s.readRange(9n, 0n, 100),
      audit: s.readAudit(),
    };
    await s.close();

    s = await open(path);
    expect(s.nextIndex(9n)).toBe(3n);
    expect(s.readRange(9n, 0n, 100)).toEqual(before.frames);
    expect(before.frames.map((f) => text(f.payload))).toEqual(["m0", null, "m2"]);
    expect(s.getRoom(9n)).toEqual({
      roomId: 9n,
      createdAt: 77n,
      settings: { retention_days: 7, name: "x" },
    });
    expect(s.listRooms()).toEqual([9n]);
    expect(s.getRoomState(9n)).toEqual(utf8("state1"));
    expect(s.getResponse(5n, 1)).toEqual(utf8("ack0"));
    expect(s.getResponse(5n, 99)).toEqual(utf8("refused"));
    expect(s.userIndex("alice")).toEqual([
      { roomId: 9n, logIndex: 0n },
      { roomId: 9n, logIndex: 2n },
    ]);
    expect(s.countKeyPackages(3n, 1n)).toBe(1);
    expect(s.readAudit()).toEqual(before.audit);
    expect(before.audit[1]).toEqual({
      kind: "secure_delete",
      at: 1234n,
      roomId: 9n,
      actor: "op",
      detail: { log_index: 1n, reason: "spam" },
    });
    // The chain continues from the stored head.
    await s.appendAudit({ kind: "unban", at: 6n, actor: "op", detail: {} });
    expect(s.verifyAudit()).toEqual({ ok: true, records: 3 });
    // Appends continue where the log stopped; a gap is still refused.
    await expect(s.append([entry(9n, 4n, "gap")])).rejects.toMatchObject({ code: "GAP" });
    await s.append([entry(9n, 3n, "m3")]);
    await s.close();
    expect(await verifyAuditLog(path)).toEqual({ ok: true, records: 3 });
  });

  it("answers a repeated request from the record after a restart", async () => {
    const path = dir("idem");
    let s = await open(path);
    await s.append([
      entry(1n, 0n, "once", { senderId: 77n, requestId: 4000000000, response: utf8("first") }),
    ]);
    await s.close();
    s = await open(path);
    expect(s.getResponse(77n, 4000000000)).toEqual(utf8("first"));
    await expect(s.putResponse(77n, -1, utf8("x"))).rejects.toMatchObject({ code: "INVALID" });
    await s.close();
  });

  it("keeps moderation answers and their age order across a restart", async () => {
    const path = dir("mod-answers");
    let s = await open(path);
    for (let i = 1; i <= 3; i++) await s.putModerationAnswer(8n, i, utf8(`ack${i}`), 3);
    await s.close();
    s = await open(path);
    expect(text(s.getModerationAnswer(8n, 2))).toBe("ack2");
    // The next answer drops the oldest from before the restart, not a newer one.
    expect(await s.putModerationAnswer(9n, 1, utf8("after"), 3)).toBe(1);
    expect([1, 2, 3].map((i) => text(s.getModerationAnswer(8n, i)))).toEqual([
      null,
      "ack2",
      "ack3",
    ]);
    await s.close();
  });

  it("prunes expired key packages when a claim meets them", async () => {
    const path = dir("kp");
    const s = await open(path);
    await s.putKeyPackages([
      {
        ref: utf8("old"),
        senderId: 3n,
        userId: "carol",
        data: utf8("k"),
        lastResort: false,
        notAfter: 10n,
      },
    ]);
    expect(await s.claimKeyPackages("carol", 11n)).toEqual([]);
    // Pruned: going back in time does not bring it back.
    expect(await s.claimKeyPackages("carol", 1n)).toEqual([]);
    await s.close();
  });

  it("claims atomically under concurrent claims", async () => {
    const path = dir("kp-race");
    const s = await open(path);
    await s.putKeyPackages(
      Array.from({ length: 5 }, (_, i) => ({
        ref: utf8(`r${i}`),
        senderId: 3n,
        userId: "carol",
        data: utf8(`k${i}`),
        lastResort: false,
        notAfter: 100n,
      })),
    );
    const claims = await Promise.all(
      Array.from({ length: 8 }, () => s.claimKeyPackages("carol", 1n)),
    );
    const handed = claims.flat().map((k) => text(k.data));
    expect(handed.sort()).toEqual(["k0", "k1", "k2", "k3", "k4"]);
    await s.close();
  });
});

describe("LMDB storage: vault slots", () => {
  it("reuses the slot of an erased key and keeps each live key in its own slot", async () => {
    const path = dir("slots");
    const s = await open(path);
    await s.append([entry(1n, 0n, "a"), entry(1n, 1n, "b"), entry(1n, 2n, "c")]);
    expect(s.vaultStats()).toEqual({ highWaterMark: 3, free: 0 });
    const key1 = s.inspectPayloadKey(1n, 1n);
    expect(key1?.length).toBe(32);
    await s.secureDelete(1n, 1n);
    expect(s.inspectPayloadKey(1n, 1n)).toBeUndefined();
    await s.idle(); // the slot returns to the free list in the background
    expect(s.vaultStats()).toEqual({ highWaterMark: 3, free: 1 });
    await s.append([entry(1n, 3n, "d")]);
    expect(s.vaultStats()).toEqual({ highWaterMark: 3, free: 0 });
    expect(s.readRange(1n, 0n, 10).map((f) => text(f.payload))).toEqual(["a", null, "c", "d"]);
    expect(s.inspectPayloadKey(1n, 3n)).not.toEqual(key1);
    expect(s.inspectPayloadKey(9n, 0n)).toBeUndefined();
    await s.close();
  });

  it("erases the same frame once under concurrent deletes", async () => {
    const path = dir("concurrent-delete");
    const s = await open(path);
    await s.append([entry(1n, 0n, "a")]);
    const results = await Promise.all([s.secureDelete(1n, 0n), s.secureDelete(1n, 0n)]);
    expect(results.sort()).toEqual([false, true]);
    expect(s.readAudit().length).toBe(1);
    await s.idle();
    expect(s.vaultStats().free).toBe(1);
    await s.close();
  });

  it("batches many concurrent appends and keeps each room gap-free", async () => {
    const path = dir("concurrent");
    const s = await open(path);
    const all: Promise<void>[] = [];
    for (let i = 0n; i < 200n; i++) all.push(s.append([entry(i % 3n, i / 3n, `m${i}`)]));
    await Promise.all(all);
    for (const room of [0n, 1n, 2n]) {
      const frames = s.readRange(room, 0n, 1000);
      expect(frames.map((f) => f.logIndex)).toEqual(frames.map((_, i) => BigInt(i)));
      expect(s.nextIndex(room)).toBe(BigInt(frames.length));
    }
    await s.close();
  });
});

describe("LMDB storage: recovery on open", () => {
  it("wipes orphan keys past the high-water mark, in free slots and in dirty slots", async () => {
    const path = dir("recover");
    let s = await open(path);
    await s.append([entry(1n, 0n, "a"), entry(1n, 1n, "b"), entry(1n, 2n, "c")]);
    await s.secureDelete(1n, 1n);
    await s.close();
    // Simulate what a crash can leave: a key written for a batch that never committed
    // (past the high-water mark and in a free slot), a slot erased in LMDB whose wipe did
    // not happen yet (dirty), and the "clean" flag of a process that did not close.
    const orphan = new Uint8Array(SLOT_BYTES).fill(0xab);
    const vault = readFileSync(join(path, VAULT_FILE));
    const grown = Buffer.concat([vault, orphan, orphan]);
    grown.set(orphan, VAULT_HEADER_BYTES + 1 * SLOT_BYTES); // slot 1 is free
    grown.set(orphan, VAULT_HEADER_BYTES + 2 * SLOT_BYTES); // slot 2: made dirty below
    writeFileSync(join(path, VAULT_FILE), grown);
    const env = openEnv(path);
    await env.root.transaction(() => {
      env.tables.meta.putSync(META.clean, new Uint8Array([0]));
      env.tables.vault_dirty.putSync(new Uint8Array([0, 0, 0, 2]), new Uint8Array([0]));
      env.tables.payload_keys.putSync(frameKey(1n, 2n), new Uint8Array([2, 0, 0, 0, 0]));
    });
    await env.root.close();

    s = await open(path);
    expect(readFileSync(join(path, VAULT_FILE)).length).toBe(VAULT_HEADER_BYTES + 3 * SLOT_BYTES);
    expect(vaultSlot(path, 1).every((b) => b === 0)).toBe(true);
    expect(vaultSlot(path, 2).every((b) => b === 0)).toBe(true);
    expect(s.vaultStats()).toEqual({ highWaterMark: 3, free: 2 });
    expect(s.readRange(1n, 0n, 5).map((f) => text(f.payload))).toEqual(["a", null, null]);
    await s.close();
  });
});

describe("LMDB storage: failures", () => {
  it("refuses an audit record that cannot be encoded without breaking the chain", async () => {
    const path = dir("audit-bad");
    const s = await open(path);
    await s.appendAudit({ kind: "kick", at: 1n, actor: "a", detail: {} });
    await expect(
      s.appendAudit({ kind: "kick", at: 2n, actor: "a", detail: { bad: Symbol("x") } }),
    ).rejects.toMatchObject({ code: "INVALID" });
    await s.appendAudit({ kind: "ban", at: 3n, actor: "a", detail: {} });
    expect(s.verifyAudit()).toEqual({ ok: true, records: 2 });
    expect(s.readAudit().map((r) => r.kind)).toEqual(["kick", "ban"]);
    // A batch with the same package twice stores it once.
    const p = {
      ref: utf8("r"),
      senderId: 1n,
      userId: "u",
      data: utf8("d"),
      lastResort: false,
      notAfter: 9n,
    };
    await s.putKeyPackages([p, p]);
    expect(s.countKeyPackages(1n, 0n)).toBe(1);
    await s.close();
  });

  it("reports a corrupt sealed payload as StorageError(CORRUPT) and keeps other rooms readable", async () => {
    const path = dir("corrupt");
    let s = await open(path);
    await s.append([entry(1n, 0n, "room one"), entry(2n, 0n, "room two")]);
    await s.close();
    const env = openEnv(path);
    const sealed = new Uint8Array(env.tables.payloads.get(frameKey(1n, 0n)) ?? new Uint8Array());
    sealed[0] = (sealed[0] ?? 0) ^ 1;
    await env.root.transaction(() => {
      env.tables.payloads.putSync(frameKey(1n, 0n), sealed);
      env.tables.payload_keys.putSync(frameKey(2n, 1n), new Uint8Array([9]));
      env.tables.headers.putSync(frameKey(2n, 1n), header(2n, 1n));
    });
    await env.root.close();
    s = await open(path);
    expect(() => s.readRange(1n, 0n, 1)).toThrow(StorageError);
    expect(() => s.readRange(1n, 0n, 1)).toThrow(expect.objectContaining({ code: "CORRUPT" }));
    expect(() => s.readRange(2n, 1n, 1)).toThrow(expect.objectContaining({ code: "CORRUPT" }));
    expect(text(s.readRange(2n, 0n, 1)[0]?.payload)).toBe("room two");
    await s.close();
  });

  it("refuses a malformed header, a second open of the same directory and a foreign vault", async () => {
    const path = dir("refuse");
    const s = await open(path);
    await expect(
      s.append([{ ...entry(1n, 0n, "x"), header: new Uint8Array(10) }]),
    ).rejects.toMatchObject({ code: "INVALID" });
    await expect(open(path)).rejects.toMatchObject({ code: "LOCKED" });
    await s.close();
    await s.close(); // closing twice is harmless
    writeFileSync(join(path, VAULT_FILE), new Uint8Array(64).fill(7));
    await expect(open(path)).rejects.toMatchObject({ code: "CORRUPT" });
  });

  it("refuses a data directory whose key vault lost keys", async () => {
    const path = dir("lost-vault");
    const s = await open(path);
    await s.append([entry(1n, 0n, "a"), entry(1n, 1n, "b")]);
    await s.close();
    const vault = readFileSync(join(path, VAULT_FILE));
    writeFileSync(join(path, VAULT_FILE), vault.subarray(0, VAULT_HEADER_BYTES + SLOT_BYTES));
    await expect(open(path)).rejects.toMatchObject({ code: "CORRUPT" });
    rmSync(join(path, VAULT_FILE));
    await expect(open(path)).rejects.toMatchObject({ code: "CORRUPT" });
  });

  it("verifyAuditLog refuses a directory without data", async () => {
    await expect(verifyAuditLog(dir("empty"))).rejects.toMatchObject({ code: "IO" });
  });

  it("keeps storage-written audit records in the chain with the meta head", async () => {
    const path = dir("audit-head");
    const s = await open(path);
    await s.append([entry(1n, 0n, "a")]);
    await s.secureDelete(1n, 0n);
    await s.close();
    const env = openEnv(path, { readOnly: true });
    const head = env.tables.meta.get(META.auditHead);
    expect(head?.subarray(0, 8)).toEqual(Buffer.from(u64Key(1n)));
    await env.root.close();
  });
});
