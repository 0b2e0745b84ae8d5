import { createHmac, hkdfSync } from "node:crypto";
import { seededBytes } from "@kalandra/test-support";
import { describe, expect, it } from "vitest";
import { associatedData, EpochSenderKeys, initialChainKey } from "../../src/senderkeys/index.js";
import { messageKey, messageNonce, nextChainKey } from "../../src/senderkeys/ratchet.js";
import { EPOCH, errorCode, fromUtf8, members, ROOM, utf8 } from "./helpers.js";

describe("key schedule", () => {
  it("matches an independent HKDF/HMAC computation (node:crypto)", () => {
    const exporter = seededBytes(42, 32);
    const info = Buffer.concat([Buffer.from("kalandraSenderV1"), Buffer.from([0, 0, 1, 2])]);
    const ck0 = new Uint8Array(hkdfSync("sha256", exporter, new Uint8Array(0), info, 32));
    expect(initialChainKey(exporter, 258)).toEqual(ck0);
    const mk = messageKey(ck0);
    const hm = (label: string) => new Uint8Array(createHmac("sha256", ck0).update(label).digest());
    expect(mk).toEqual(hm("kalandraSenderV1 key"));
    expect(Buffer.from(messageNonce(0x0102n, 3, 9)).toString("hex")).toBe(
      `${Buffer.from("kalandra").toString("hex")}0000000000000102` + "0000000300000009",
    );
    expect(nextChainKey(ck0)).toEqual(hm("kalandraSenderV1 chain"));
  });

  it("lays out the associated data as label ‖ room(16) ‖ epoch(8) ‖ leaf(4) ‖ gen(4)", () => {
    const ad = associatedData(ROOM, 0x0102n, 0x0a0b0c0d, 5);
    expect(ad.length).toBe(15 + 32);
    expect(fromUtf8(ad.subarray(0, 15))).toBe("kalandra/app/v1");
    expect(Buffer.from(ad.subarray(15, 31)).toString("hex")).toBe(
      ROOM.toString(16).padStart(32, "0"),
    );
    expect(Buffer.from(ad.subarray(31)).toString("hex")).toBe("00000000000001020a0b0c0d00000005");
  });

  it("rejects malformed construction input", () => {
    const base = { roomId: ROOM, epoch: EPOCH, exporterSecret: seededBytes(1, 32), ownLeaf: 0 };
    expect(() => new EpochSenderKeys({ ...base, exporterSecret: new Uint8Array(31) })).toThrow(
      /exporterSecret/,
    );
    expect(() => new EpochSenderKeys({ ...base, roomId: -1n })).toThrow(/roomId/);
    expect(() => new EpochSenderKeys({ ...base, epoch: 1n << 64n })).toThrow(/epoch/);
    expect(() => new EpochSenderKeys({ ...base, ownLeaf: 1.5 })).toThrow(/ownLeaf/);
    expect(() => new EpochSenderKeys({ ...base, senders: [-1] })).toThrow(/senders/);
    expect(() => new EpochSenderKeys({ ...base, window: { maxSkip: -1 } })).toThrow(/maxSkip/);
  });
});

describe("EpochSenderKeys", () => {
  it("round trips between members, each with its own chain", () => {
    const [a, b, c] = members(3) as [EpochSenderKeys, EpochSenderKeys, EpochSenderKeys];
    const m1 = a.seal(utf8("hello"));
    const m2 = a.seal(utf8("again"));
    const m3 = b.seal(utf8("from b"));
    expect([m1.generation, m2.generation, m3.generation]).toEqual([0, 1, 0]);
    expect(m1.ciphertext.length).toBe(5 + 16);
    expect(fromUtf8(b.open(0, m1.generation, m1.ciphertext))).toBe("hello");
    expect(fromUtf8(c.open(0, m2.generation, m2.ciphertext))).toBe("again");
    expect(fromUtf8(c.open(0, m1.generation, m1.ciphertext))).toBe("hello");
    expect(fromUtf8(a.open(1, m3.generation, m3.ciphertext))).toBe("from b");
    expect(a.sendGeneration).toBe(2);
  });

  it("derives chains lazily when no sender list is given", () => {
    const exporterSecret = seededBytes(9, 32);
    const a = new EpochSenderKeys({ roomId: 1n, epoch: 0n, exporterSecret, ownLeaf: 3 });
    const b = new EpochSenderKeys({ roomId: 1n, epoch: 0n, exporterSecret, ownLeaf: 70 });
    const m = a.seal(utf8("x"));
    expect(fromUtf8(b.open(3, m.generation, m.ciphertext))).toBe("x");
    expect(b.snapshot({ leaves: [5] }).map((s) => s.leaf)).toEqual([3, 5]);
    b.destroy();
    expect(b.secretsForTest().exporter).toBeUndefined();
  });

  it("reports replays, far-ahead generations, forgeries, wrong epochs and strangers", () => {
    const [a, b] = members(2, { window: { maxSkip: 4 } }) as [EpochSenderKeys, EpochSenderKeys];
    const m0 = a.seal(utf8("m0"));
    expect(errorCode(() => b.open(0, 0, m0.ciphertext))).toBe("OK");
    expect(errorCode(() => b.open(0, 0, m0.ciphertext))).toBe("REPLAY");
    expect(errorCode(() => b.open(0, 6, m0.ciphertext))).toBe("TOO_FAR_AHEAD");
    expect(errorCode(() => b.open(0, 2 ** 32, m0.ciphertext))).toBe("TOO_FAR_AHEAD");
    expect(errorCode(() => b.open(0, -1, m0.ciphertext))).toBe("DECRYPT_FAILED");
    expect(errorCode(() => b.open(0, 1, m0.ciphertext))).toBe("DECRYPT_FAILED");
    expect(errorCode(() => b.open(0, 1, new Uint8Array(3)))).toBe("DECRYPT_FAILED");
    expect(errorCode(() => b.open(0, 1, m0.ciphertext, EPOCH + 1n))).toBe("WRONG_EPOCH");
    expect(errorCode(() => b.open(9, 0, m0.ciphertext))).toBe("UNKNOWN_SENDER");
    expect(errorCode(() => b.open(-1, 0, m0.ciphertext))).toBe("UNKNOWN_SENDER");
    // own leaf: sent generations are replays, unsent ones forgeries
    const own = b.seal(utf8("mine"));
    expect(errorCode(() => b.open(1, own.generation, own.ciphertext))).toBe("REPLAY");
    expect(errorCode(() => b.open(1, 5, own.ciphertext))).toBe("DECRYPT_FAILED");
    b.destroy();
    expect(errorCode(() => b.open(0, 1, m0.ciphertext))).toBe("WRONG_EPOCH");
    expect(errorCode(() => b.seal(utf8("late")))).toBe("WRONG_EPOCH");
    expect(b.isDestroyed).toBe(true);
  });

  it("binds room, epoch, sender and generation (a message never opens elsewhere)", () => {
    const [a] = members(2) as [EpochSenderKeys];
    const m = a.seal(utf8("bound"));
    const otherEpoch = members(2, { epoch: EPOCH + 1n })[1] as EpochSenderKeys;
    expect(errorCode(() => otherEpoch.open(0, 0, m.ciphertext))).toBe("DECRYPT_FAILED");
    const otherRoom = new EpochSenderKeys({
      roomId: ROOM + 1n,
      epoch: EPOCH,
      exporterSecret: seededBytes(1, 32),
      ownLeaf: 1,
      senders: [0, 1],
    });
    expect(errorCode(() => otherRoom.open(0, 0, m.ciphertext))).toBe("DECRYPT_FAILED");
  });

  it("does not advance the chain or lose keys on a forged far-ahead message", () => {
    const [a, b] = members(2) as [EpochSenderKeys, EpochSenderKeys];
    const msgs = [0, 1, 2].map((i) => a.seal(utf8(`m${i}`)));
    expect(errorCode(() => b.open(0, 500, new Uint8Array(40)))).toBe("DECRYPT_FAILED");
    expect(b.secretsForTest().chains.get(0)?.generation).toBe(0);
    for (const m of msgs) expect(errorCode(() => b.open(0, m.generation, m.ciphertext))).toBe("OK");
  });

  it("keeps a bounded window: evicted skipped keys become replays", () => {
    const [a, b] = members(2, { window: { maxSkip: 2, maxAheadGenerations: 10 } }) as [
      EpochSenderKeys,
      EpochSenderKeys,
    ];
    const msgs = Array.from({ length: 6 }, (_, i) => a.seal(utf8(`m${i}`)));
    const last = msgs[5] as { generation: number; ciphertext: Uint8Array };
    expect(fromUtf8(b.open(0, 5, last.ciphertext))).toBe("m5");
    expect(b.secretsForTest().chains.get(0)?.secretsForTest().skipped.size).toBe(2);
    expect(errorCode(() => b.open(0, 0, (msgs[0] as typeof last).ciphertext))).toBe("REPLAY");
    expect(fromUtf8(b.open(0, 4, (msgs[4] as typeof last).ciphertext))).toBe("m4");
    expect(fromUtf8(b.open(0, 3, (msgs[3] as typeof last).ciphertext))).toBe("m3");
  });

  it("erases used message keys, old chain keys and everything on destroy", () => {
    const [a, b] = members(2) as [EpochSenderKeys, EpochSenderKeys];
    const sendChain = a.secretsForTest().chains.get(0);
    const ck0 = sendChain?.secretsForTest().chainKey as Uint8Array;
    const m0 = a.seal(utf8("m0"));
    const m1 = a.seal(utf8("m1"));
    expect(ck0.every((x) => x === 0)).toBe(true);
    const recv = b.secretsForTest().chains.get(0);
    const rck0 = recv?.secretsForTest().chainKey as Uint8Array;
    b.open(0, 1, m1.ciphertext);
    expect(rck0.every((x) => x === 0)).toBe(true);
    const skipped = recv?.secretsForTest().skipped.get(0);
    expect(skipped?.some((x) => x !== 0)).toBe(true);
    b.open(0, 0, m0.ciphertext);
    expect(skipped?.every((x) => x === 0)).toBe(true);
    expect(recv?.secretsForTest().skipped.size).toBe(0);
    const live = [...b.secretsForTest().chains.values()].map((c) => c.secretsForTest().chainKey);
    b.destroy();
    b.destroy();
    for (const k of live) expect(k.every((x) => x === 0)).toBe(true);
  });
});
