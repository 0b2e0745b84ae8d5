/**
 * Redaction and retention (issue 8) over the real LMDB storage: a redacted message and the
 * messages a retention sweep erases are gone from every byte of every file under the data
 * directory — neither plaintext nor payload key — while their headers keep their place in
 * history; members get a REDACTION notice for each; every erasure is audited. As a
 * control, the scan finds the keys of the messages that stay (in the vault) and every
 * header, so a scan that finds nothing cannot pass.
 */
import { readFileSync } from "node:fs";
import { decodePayload, FrameHeader, Opcode } from "@kalandra/proto";
import { afterAll, describe, expect, it } from "vitest";
import {
  FRESH_CURSOR,
  isActive,
  planSweep,
  policyOf,
  RetentionPolicies,
} from "../../src/moderation/retention.js";
import { type LmdbStorage, openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import { MemoryStorage } from "../../src/storage/memoryStorage.js";
import { deliveredTo, frameOf, send } from "../hub/harness.js";
import { roomWith } from "../sequencer/room.js";
import { filesUnder, seededRng, tempDir } from "../storage/helpers.js";
import { moderatedEnv } from "./support.js";

const te = new TextEncoder();
const dirs: { cleanup(): void }[] = [];
afterAll(() => {
  for (const d of dirs) d.cleanup();
});

function foundIn(files: Buffer[], needle: Uint8Array): boolean {
  return files.some((f) => f.indexOf(Buffer.from(needle)) >= 0);
}

const marker = (i: number) => te.encode(`KLDR-MODERATION-SECRET-${i}-${"x".repeat(40)}-${i}`);

describe("redaction and retention", () => {
  it("erase for good, keep the header, notify members, audit each", async () => {
    const d = tempDir("moderation");
    dirs.push(d);
    const storage: LmdbStorage = await openLmdbStorage({
      path: d.path,
      rng: seededRng("moderation"),
    });
    const env = await moderatedEnv({ storage });
    const { members, roomId } = await roomWith(["alice", "bob"], { env });
    const [alice, bob] = members as [(typeof members)[0], (typeof members)[0]];

    // Eight messages at log indexes 2..9.
    const indexes: bigint[] = [];
    for (let i = 0; i < 8; i++) {
      const a = await send(
        env,
        alice,
        frameOf(alice, Opcode.APP_MESSAGE, roomId, 1n, { generation: i, ciphertext: marker(i) }),
      );
      expect(a.opcode).toBe(Opcode.ACK);
      indexes.push(a.frame.header.logIndex);
    }
    expect(indexes).toEqual([2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n]);
    const keys = indexes.map((i) => storage.inspectPayloadKey(roomId, i)!);
    const headers = storage.readRange(roomId, 2n, 8).map((f) => f.header);

    // Redaction of message 0 (index 2).
    const red = await env.moderation.redact(roomId, 2n, "doxxing", "admin:ops");
    expect(red).toEqual({ ok: true, noticeIndex: 10n });
    const notices = deliveredTo(env, bob.senderId, Opcode.REDACTION);
    expect(notices).toHaveLength(1);
    expect(notices[0]!.header.senderId).toBe(0n);
    expect(notices[0]!.header.logIndex).toBe(10n);
    expect(decodePayload(Opcode.REDACTION, notices[0]!.payload)).toEqual({ log_index: 2n });
    // The sender gets it too, so every copy is dropped.
    expect(deliveredTo(env, alice.senderId, Opcode.REDACTION)).toHaveLength(1);

    // Refusals: twice, a handshake frame, an index past the head.
    expect(await env.moderation.redact(roomId, 2n, "", "a")).toMatchObject({
      refusal: { code: "NOT_FOUND" },
    });
    expect(await env.moderation.redact(roomId, 1n, "", "a")).toMatchObject({
      refusal: { code: "FORBIDDEN" },
    });
    expect(await env.moderation.redact(roomId, 99n, "", "a")).toMatchObject({
      refusal: { code: "NOT_FOUND" },
    });

    // Retention: keep the newest 3 messages (the notices do not count).
    expect(
      await env.moderation.setRetention(roomId, { maxAgeMs: 0, maxCount: 3 }, "admin:ops"),
    ).toEqual({ ok: true });
    env.moderation.start();
    env.time.advance(1000); // the sweeper fires on the injected timers
    const report = await env.moderation.sweep();
    await env.moderation.stop();
    expect(report.erased + (await env.moderation.sweep()).erased).toBe(4);
    // Indexes 3..6 erased; 7, 8, 9 stay.
    const after = storage.readRange(roomId, 2n, 8);
    expect(after.map((f) => f.payload === null)).toEqual([
      true,
      true,
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
    // Headers keep their place: same bytes, opcode and sender.
    after.forEach((f, i) => {
      expect(Buffer.from(f.header).equals(Buffer.from(headers[i]!))).toBe(true);
      expect(FrameHeader.view(f.header).senderId).toBe(alice.senderId);
    });
    expect(deliveredTo(env, bob.senderId, Opcode.REDACTION)).toHaveLength(5);
    // A further sweep has nothing to do.
    expect((await env.moderation.sweep()).erased).toBe(0);

    const kinds = storage.readAudit().map((a) => a.kind);
    expect(kinds.filter((k) => k === "secure_delete")).toHaveLength(5);
    expect(kinds.filter((k) => k === "redact")).toHaveLength(1);
    expect(kinds.filter((k) => k === "retention_sweep").length).toBeGreaterThanOrEqual(1);
    expect(storage.readAudit().find((a) => a.kind === "redact")).toMatchObject({
      actor: "admin:ops",
      detail: { log_index: 2n, reason: "doxxing", notice_index: 10n },
    });
    expect(storage.verifyAudit()).toMatchObject({ ok: true });

    await env.hub.close();
    await storage.close();
    const files = filesUnder(d.path).map((p) => readFileSync(p));
    for (let i = 0; i < 8; i++) {
      const gone = i < 5;
      expect(foundIn(files, marker(i)), `plaintext ${i}`).toBe(false);
      expect(foundIn(files, keys[i]!), `key ${i}`).toBe(!gone);
      expect(foundIn(files, headers[i]!), `header ${i}`).toBe(true);
    }
  });

  it("max age erases what is older; budget bounds one sweep; policies replay", async () => {
    const env = await moderatedEnv({ retention: { maxAgeMs: 60_000, maxCount: 0 } });
    const { members, roomId } = await roomWith(["alice", "bob"], { env });
    const alice = members[0]!;
    for (let i = 0; i < 5; i++) {
      await send(
        env,
        alice,
        frameOf(alice, Opcode.APP_MESSAGE, roomId, 1n, { generation: i, ciphertext: marker(i) }),
      );
      env.time.advance(20_000);
    }
    // Now = t0 + 100 s: messages sent at +0, +20 s and +40 s are older than 60 s... (+40 is exactly 60)
    const plan = planSweep(
      env.storage,
      roomId,
      env.moderation.retention.of(roomId),
      env.time.now(),
      FRESH_CURSOR,
      1,
    );
    expect(plan.erase).toEqual([2n]);
    const r = await env.moderation.sweep();
    expect(r.erased).toBe(2);
    const live = env.storage.readRange(roomId, 2n, 5).map((f) => f.payload !== null);
    expect(live).toEqual([false, false, true, true, true]);

    const policies = RetentionPolicies.fromAudit(
      [
        {
          kind: "retention",
          at: 0n,
          actor: "a",
          roomId: 4n,
          detail: { max_age_ms: 5n, max_count: 2 },
        },
        { kind: "retention", at: 0n, actor: "a", detail: { max_age_ms: 5, max_count: 2 } },
        {
          kind: "retention",
          at: 0n,
          actor: "a",
          roomId: 6n,
          detail: { max_age_ms: -1, max_count: 2 },
        },
      ],
      { maxAgeMs: 0, maxCount: 0 },
    );
    expect(policies.of(4n)).toEqual({ maxAgeMs: 5, maxCount: 2 });
    expect(policies.configured()).toEqual([4n]);
    expect(isActive(policies.of(6n))).toBe(false);
    expect(policyOf({ max_age_ms: 1.5, max_count: 0 })).toBeUndefined();
    expect(await env.moderation.setRetention(77n, { maxAgeMs: 1, maxCount: 1 }, "a")).toMatchObject(
      {
        refusal: { code: "UNKNOWN_ROOM" },
      },
    );
  });

  it("a failed erasure is retried by the next sweep", async () => {
    const storage = new MemoryStorage();
    const env = await moderatedEnv({ storage, retention: { maxAgeMs: 0, maxCount: 1 } });
    const { members, roomId } = await roomWith(["alice"], { env });
    const alice = members[0]!;
    for (let i = 0; i < 3; i++)
      await send(
        env,
        alice,
        frameOf(alice, Opcode.APP_MESSAGE, roomId, 0n, { generation: i, ciphertext: marker(i) }),
      );
    const real = storage.secureDelete.bind(storage);
    let fail = true;
    storage.secureDelete = async (room, idx) => {
      if (fail) throw new Error("disk full");
      return real(room, idx);
    };
    const first = await env.moderation.sweep().catch((e: unknown) => e);
    fail = false;
    expect(first).toBeDefined();
    const second = await env.moderation.sweep();
    expect(second.erased).toBe(2);
  });
});
