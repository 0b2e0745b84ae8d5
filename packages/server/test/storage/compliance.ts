/**
 * One compliance suite for every `Storage` implementation (CONVENTIONS §6): the LMDB
 * storage and the in-memory one must behave the same through the interface.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Storage, StoredKeyPackage } from "../../src/storage/types.js";
import { entry, header, utf8 } from "./helpers.js";

export interface Harness {
  storage: Storage;
  dispose: () => Promise<void>;
}

function kp(senderId: bigint, userId: string, n: number, extra: Partial<StoredKeyPackage> = {}) {
  return {
    ref: utf8(`ref-${senderId}-${n}`),
    senderId,
    userId,
    data: utf8(`kp-${senderId}-${n}`),
    lastResort: false,
    notAfter: 2000n,
    ...extra,
  };
}

async function rejectionCode(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

/** A fresh storage for each test of the enclosing describe (handed to `use`), disposed after. */
export function eachStorage(make: () => Promise<Harness>, use: (s: Storage) => void): void {
  let h: Harness;
  beforeEach(async () => {
    h = await make();
    use(h.storage);
  });
  afterEach(async () => {
    await h.dispose();
  });
}

export function storageCompliance(name: string, make: () => Promise<Harness>): void {
  describe(`Storage compliance: ${name}`, () => {
    let s: Storage;
    eachStorage(make, (storage) => {
      s = storage;
    });

    it("appends frames and reads them back in log order", async () => {
      await s.append([entry(1n, 0n, "zero"), entry(1n, 1n, "one"), entry(2n, 0n, "other room")]);
      await s.append([entry(1n, 2n, "two")]);
      expect(s.nextIndex(1n)).toBe(3n);
      expect(s.nextIndex(2n)).toBe(1n);
      expect(s.nextIndex(3n)).toBe(0n);
      const frames = s.readRange(1n, 0n, 10);
      expect(frames.map((f) => f.logIndex)).toEqual([0n, 1n, 2n]);
      expect(frames.map((f) => new TextDecoder().decode(f.payload ?? new Uint8Array()))).toEqual([
        "zero",
        "one",
        "two",
      ]);
      expect(frames[1]?.header).toEqual(header(1n, 1n));
      expect(frames.every((f) => f.roomId === 1n)).toBe(true);
      expect(s.readRange(1n, 1n, 1).map((f) => f.logIndex)).toEqual([1n]);
      expect(s.readRange(1n, 3n, 10)).toEqual([]);
      expect(s.readRange(9n, 0n, 10)).toEqual([]);
      expect(s.readRange(1n, 0n, 0)).toEqual([]);
    });

    it("refuses an append that leaves a gap or repeats an index", async () => {
      expect(await rejectionCode(s.append([entry(1n, 1n, "gap")]))).toBe("GAP");
      await s.append([entry(1n, 0n, "a")]);
      expect(await rejectionCode(s.append([entry(1n, 0n, "again")]))).toBe("GAP");
      expect(await rejectionCode(s.append([entry(1n, 1n, "b"), entry(1n, 3n, "d")]))).toBe("GAP");
      // The refused batch wrote nothing, not even its valid first entry.
      expect(s.nextIndex(1n)).toBe(1n);
      await s.append([entry(1n, 1n, "b")]);
      expect(s.nextIndex(1n)).toBe(2n);
    });

    it("copies the caller's buffers and hands out its own", async () => {
      const e = entry(1n, 0n, "original");
      await s.append([e]).then(() => {
        e.payload.fill(0);
        e.header.fill(0);
      });
      const payload = utf8("reused");
      const p = s.append([{ ...entry(1n, 1n, payload) }]);
      payload.fill(0x41);
      await p;
      const [a, b] = s.readRange(1n, 0n, 2);
      expect(new TextDecoder().decode(a?.payload ?? undefined)).toBe("original");
      expect(new TextDecoder().decode(b?.payload ?? undefined)).toBe("reused");
      a?.header.fill(0);
      expect(s.readRange(1n, 0n, 1)[0]?.header).toEqual(header(1n, 0n));
    });

    it("records responses for idempotency", async () => {
      await s.append([entry(1n, 0n, "x", { senderId: 42n, requestId: 7, response: utf8("r7") })]);
      expect(s.getResponse(42n, 7)).toEqual(utf8("r7"));
      expect(s.getResponse(42n, 8)).toBeUndefined();
      await s.putResponse(42n, 8, utf8("refused-but-answered"));
      expect(s.getResponse(42n, 8)).toEqual(utf8("refused-but-answered"));
      expect(s.getResponse(43n, 7)).toBeUndefined();
    });

    it("stores rooms, their metadata and state", async () => {
      await s.putRoom(
        { roomId: 5n, createdAt: 123n, settings: { retention_days: 30 } },
        utf8("s0"),
      );
      await s.putRoom({ roomId: 3n, createdAt: 124n, settings: {}, creator: "ann" }, utf8("t0"));
      expect(s.getRoom(3n)).toEqual({ roomId: 3n, createdAt: 124n, settings: {}, creator: "ann" });
      expect(s.getRoom(5n)).toEqual({
        roomId: 5n,
        createdAt: 123n,
        settings: { retention_days: 30 },
      });
      expect(s.getRoom(6n)).toBeUndefined();
      expect(s.listRooms()).toEqual([3n, 5n]);
      expect(s.getRoomState(5n)).toEqual(utf8("s0"));
      await s.putRoomState(5n, utf8("s1"));
      expect(s.getRoomState(5n)).toEqual(utf8("s1"));
      await s.append([entry(5n, 0n, "p", { roomState: utf8("s2") })]);
      expect(s.getRoomState(5n)).toEqual(utf8("s2"));
      expect(s.getRoomState(4n)).toBeUndefined();
    });

    it("indexes frames by user without decrypting", async () => {
      await s.append([
        entry(1n, 0n, "a", { userId: "alice" }),
        entry(1n, 1n, "b", { userId: "bob" }),
        entry(2n, 0n, "c", { userId: "alice" }),
        entry(2n, 1n, "hub"),
      ]);
      expect(s.userIndex("alice")).toEqual([
        { roomId: 1n, logIndex: 0n },
        { roomId: 2n, logIndex: 0n },
      ]);
      expect(s.userIndex("bob")).toEqual([{ roomId: 1n, logIndex: 1n }]);
      expect(s.userIndex("al")).toEqual([]);
    });

    it("securely deletes a payload and keeps the header as a tombstone", async () => {
      await s.append([entry(1n, 0n, "keep"), entry(1n, 1n, "erase me"), entry(1n, 2n, "keep too")]);
      expect(await s.secureDelete(1n, 1n)).toBe(true);
      expect(await s.secureDelete(1n, 1n)).toBe(false);
      expect(await s.secureDelete(1n, 9n)).toBe(false);
      expect(await s.secureDelete(7n, 0n)).toBe(false);
      const frames = s.readRange(1n, 0n, 10);
      expect(frames.map((f) => f.payload === null)).toEqual([false, true, false]);
      expect(frames[1]?.header).toEqual(header(1n, 1n));
      expect(s.nextIndex(1n)).toBe(3n);
      await s.append([entry(1n, 3n, "after")]);
      expect(new TextDecoder().decode(s.readRange(1n, 3n, 1)[0]?.payload ?? undefined)).toBe(
        "after",
      );
    });

    it("drops an erased room log: nextIndex is 0 again and the log is rebuilt from 0", async () => {
      // A deposed authority's replica drops its log and fetches the new authority's again
      // (federation/failover.ts discardTail): the cached head must not outlive the rows.
      await s.append([entry(1n, 0n, "a"), entry(1n, 1n, "b"), entry(2n, 0n, "other")]);
      expect(s.nextIndex(1n)).toBe(2n);
      await expect(s.dropRoomLog(1n)).rejects.toBeDefined(); // live payloads: nothing dropped
      expect(s.nextIndex(1n)).toBe(2n);
      for (const i of s.livePayloads(1n, 0n, 10)) await s.secureDelete(1n, i);
      expect(await s.dropRoomLog(1n)).toBe(2);
      expect(s.nextIndex(1n)).toBe(0n);
      expect(s.readRange(1n, 0n, 10)).toEqual([]);
      await s.append([entry(1n, 0n, "again")]);
      expect(s.nextIndex(1n)).toBe(1n);
      expect(s.readRange(1n, 0n, 10).map((f) => f.logIndex)).toEqual([0n]);
      expect(s.nextIndex(2n)).toBe(1n);
    });

    it("hands out each one-time key package once, per device", async () => {
      await s.putKeyPackages([
        kp(10n, "alice", 1),
        kp(10n, "alice", 2),
        kp(11n, "alice", 1),
        kp(12n, "bob", 1),
      ]);
      expect(s.countKeyPackages(10n, 1000n)).toBe(2);
      const first = await s.claimKeyPackages("alice", 1000n);
      expect(first.map((k) => [k.senderId, new TextDecoder().decode(k.data)])).toEqual([
        [10n, "kp-10-1"],
        [11n, "kp-11-1"],
      ]);
      const second = await s.claimKeyPackages("alice", 1000n);
      expect(second.map((k) => new TextDecoder().decode(k.data))).toEqual(["kp-10-2"]);
      expect(await s.claimKeyPackages("alice", 1000n)).toEqual([]);
      expect(s.countKeyPackages(10n, 1000n)).toBe(0);
      expect(await s.claimKeyPackages("carol", 1000n)).toEqual([]);
      expect((await s.claimKeyPackages("bob", 1000n))[0]?.ref).toEqual(utf8("ref-12-1"));
    });

    it("reuses a last-resort package only when nothing else is left", async () => {
      await s.putKeyPackages([kp(10n, "alice", 1, { lastResort: true }), kp(10n, "alice", 2)]);
      expect(s.countKeyPackages(10n, 1000n)).toBe(1);
      const a = await s.claimKeyPackages("alice", 1000n);
      expect(a.map((k) => k.lastResort)).toEqual([false]);
      for (let i = 0; i < 3; i++) {
        const again = await s.claimKeyPackages("alice", 1000n);
        expect(again.map((k) => [k.lastResort, new TextDecoder().decode(k.ref)])).toEqual([
          [true, "ref-10-1"],
        ]);
      }
    });

    it("keeps one last-resort package per device: a new one replaces the old", async () => {
      await s.putKeyPackages([kp(10n, "alice", 1, { lastResort: true })]);
      await s.putKeyPackages([kp(11n, "alice", 1, { lastResort: true })]);
      await s.putKeyPackages([kp(10n, "alice", 2, { lastResort: true })]);
      const got = await s.claimKeyPackages("alice", 1000n);
      expect(got.map((k) => new TextDecoder().decode(k.ref))).toEqual(["ref-10-2", "ref-11-1"]);
      // The replaced one is gone for good, its ref free to be stored again.
      await s.putKeyPackages([kp(10n, "alice", 3)]);
      expect((await s.claimKeyPackages("alice", 1000n)).map((k) => k.lastResort)).toEqual([
        false,
        true,
      ]);
    });

    it("keeps Welcomes per device until removed, oldest first, capped", async () => {
      const w = (senderId: bigint, roomId: bigint, logIndex: bigint, expiresAt = 100n) => ({
        senderId,
        roomId,
        logIndex,
        epoch: logIndex + 1n,
        frame: utf8(`welcome-${senderId}-${roomId}-${logIndex}`),
        expiresAt,
      });
      const big = 2n ** 127n + 3n;
      expect(await s.putWelcome(w(7n, big, 1n), 3)).toBe(0);
      expect(await s.putWelcome(w(7n, 2n, 4n), 3)).toBe(0);
      expect(await s.putWelcome(w(7n, big, 1n), 3)).toBe(0); // a repeat is kept once
      expect(await s.putWelcome(w(8n, 2n, 4n), 3)).toBe(0);
      const seven = s.welcomesFor(7n, 10n);
      expect(seven.map((x) => [x.roomId, x.logIndex, x.epoch])).toEqual([
        [big, 1n, 2n],
        [2n, 4n, 5n],
      ]);
      expect(new TextDecoder().decode(seven[0]?.frame)).toBe(`welcome-7-${big}-1`);
      // Beyond the cap the oldest goes.
      expect(await s.putWelcome(w(7n, 3n, 0n), 3)).toBe(0);
      expect(await s.putWelcome(w(7n, 4n, 0n), 3)).toBe(1);
      expect(s.welcomesFor(7n, 10n).map((x) => x.roomId)).toEqual([2n, 3n, 4n]);
      expect(await s.removeWelcome(7n, 3n, 0n)).toBe(true);
      expect(await s.removeWelcome(7n, 3n, 0n)).toBe(false);
      expect(await s.removeWelcome(8n, 3n, 0n)).toBe(false);
      expect(s.welcomesFor(7n, 10n).map((x) => x.roomId)).toEqual([2n, 4n]);
      expect(s.welcomesFor(8n, 10n).map((x) => x.roomId)).toEqual([2n]);
      expect(s.welcomesFor(9n, 10n)).toEqual([]);
    });

    it("never delivers an expired Welcome and erases it on expiry, in bounded steps", async () => {
      const w = (senderId: bigint, roomId: bigint, expiresAt: bigint) => ({
        senderId,
        roomId,
        logIndex: 0n,
        epoch: 1n,
        frame: utf8("w"),
        expiresAt,
      });
      await s.putWelcome(w(7n, 1n, 50n), 10);
      await s.putWelcome(w(7n, 2n, 60n), 10);
      await s.putWelcome(w(8n, 3n, 40n), 10);
      await s.putWelcome(w(8n, 4n, 200n), 10);
      expect(s.welcomesFor(7n, 50n).map((x) => x.roomId)).toEqual([2n]);
      expect(await s.expireWelcomes(60n, 2)).toBe(2);
      expect(await s.expireWelcomes(60n, 2)).toBe(1);
      expect(await s.expireWelcomes(60n, 2)).toBe(0);
      // Erased, not merely hidden: a later clock does not bring them back.
      expect(s.welcomesFor(7n, 0n)).toEqual([]);
      expect(s.welcomesFor(8n, 0n).map((x) => x.roomId)).toEqual([4n]);
    });

    it("never hands out an expired key package", async () => {
      await s.putKeyPackages([
        kp(10n, "alice", 1, { notAfter: 500n }),
        kp(10n, "alice", 2, { notAfter: 1500n }),
        kp(10n, "alice", 3, { notAfter: 500n, lastResort: true }),
      ]);
      expect(s.countKeyPackages(10n, 1000n)).toBe(1);
      const got = await s.claimKeyPackages("alice", 1000n);
      expect(got.map((k) => k.notAfter)).toEqual([1500n]);
      expect(await s.claimKeyPackages("alice", 1000n)).toEqual([]);
    });

    it("ignores a repeated upload of the same package", async () => {
      await s.putKeyPackages([kp(10n, "alice", 1)]);
      await s.putKeyPackages([kp(10n, "alice", 1)]);
      expect(s.countKeyPackages(10n, 0n)).toBe(1);
    });

    it("keeps an audit log that verifies", async () => {
      expect(s.verifyAudit()).toEqual({ ok: true, records: 0 });
      await s.appendAudit({
        kind: "kick",
        at: 1n,
        roomId: 1n,
        actor: "admin",
        detail: { user_id: "eve" },
      });
      await s.appendAudit({ kind: "ban", at: 2n, actor: "admin", detail: { scope: "hub" } });
      const records = s.readAudit().filter((r) => r.kind !== "secure_delete");
      expect(records).toEqual([
        { kind: "kick", at: 1n, roomId: 1n, actor: "admin", detail: { user_id: "eve" } },
        { kind: "ban", at: 2n, actor: "admin", detail: { scope: "hub" } },
      ]);
      expect(s.verifyAudit().ok).toBe(true);
    });

    it("binds a device to one user for good, caps active devices, revokes", async () => {
      const dev = (senderId: bigint, userId: string) => ({
        senderId,
        deviceKey: new Uint8Array(32).fill(Number(senderId)),
        userId,
        boundAt: 5n,
      });
      expect(await s.bindDevice(dev(1n, "alice"), 2)).toEqual({
        kind: "bound",
        device: dev(1n, "alice"),
      });
      // The same key for another user finds the first binding, unchanged.
      expect(await s.bindDevice(dev(1n, "bob"), 2)).toEqual({
        kind: "existing",
        device: dev(1n, "alice"),
      });
      expect((await s.bindDevice(dev(2n, "alice"), 2)).kind).toBe("bound");
      expect(await s.bindDevice(dev(3n, "alice"), 2)).toEqual({ kind: "too_many" });
      expect(s.getDevice(3n)).toBeUndefined();
      // The method that bound a device is kept with it (OIDC-bound devices show tokens again).
      expect((await s.bindDevice({ ...dev(4n, "carol"), boundBy: "oidc" }, 2)).kind).toBe("bound");
      expect(s.getDevice(4n)?.boundBy).toBe("oidc");
      expect(s.getDevice(1n)?.boundBy).toBeUndefined();
      expect((await s.revokeDevice(2n, 9n))?.revokedAt).toBe(9n);
      expect((await s.revokeDevice(2n, 10n))?.revokedAt).toBe(9n);
      expect(await s.revokeDevice(7n, 9n)).toBeUndefined();
      // A revoked device frees its place but stays registered.
      expect((await s.bindDevice(dev(3n, "alice"), 2)).kind).toBe("bound");
      expect(s.devicesOf("alice").map((d) => [d.senderId, d.revokedAt])).toEqual([
        [1n, undefined],
        [2n, 9n],
        [3n, undefined],
      ]);
      expect(s.devicesOf("bob")).toEqual([]);
      expect(s.getDevice(1n)?.deviceKey).toEqual(new Uint8Array(32).fill(1));
    });

    it("keeps users, single-use enrollment codes and nonces", async () => {
      await s.putUser("bob@h", 2n);
      await s.putUser("alice@h", 1n);
      await s.putUser("alice@h", 7n);
      expect(s.listUsers()).toEqual([
        { userId: "alice@h", createdAt: 1n },
        { userId: "bob@h", createdAt: 2n },
      ]);
      const codeHash = new Uint8Array(32).fill(3);
      await s.putEnrollmentCode({ codeHash, userId: "alice@h", expiresAt: 100n });
      expect(await s.takeEnrollmentCode(new Uint8Array(32).fill(4), 10n)).toBeUndefined();
      const code = { codeHash, userId: "alice@h", expiresAt: 100n };
      expect(await s.takeEnrollmentCode(codeHash, 10n)).toEqual(code);
      // Used once: kept, so a second use is told apart from an unknown code.
      expect(await s.takeEnrollmentCode(codeHash, 11n)).toEqual({ ...code, usedAt: 10n });
      const nonce = utf8("nonce-1");
      expect(await s.useNonce(nonce, 50n, 10n)).toBe(true);
      expect(await s.useNonce(nonce, 50n, 20n)).toBe(false);
      // Past its expiry a nonce may be forgotten (a link carrying it is expired anyway).
      expect(await s.useNonce(utf8("nonce-2"), 60n, 51n)).toBe(true);
    });

    it("refuses every call once closed", async () => {
      await s.close();
      expect(() => s.nextIndex(1n)).toThrow(expect.objectContaining({ code: "CLOSED" }));
      expect(() => s.readRange(1n, 0n, 1)).toThrow(expect.objectContaining({ code: "CLOSED" }));
      await expect(s.append([entry(1n, 0n, "late")])).rejects.toMatchObject({ code: "CLOSED" });
      expect(() => s.welcomesFor(1n, 0n)).toThrow(expect.objectContaining({ code: "CLOSED" }));
      await expect(s.removeWelcome(1n, 1n, 0n)).rejects.toMatchObject({ code: "CLOSED" });
      await expect(s.expireWelcomes(1n, 1)).rejects.toMatchObject({ code: "CLOSED" });
    });
  });
}
