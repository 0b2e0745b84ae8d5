import { seededBytes, seededRng } from "@kalandra/test-support";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createEnvelope, encodeEnvelope } from "../../src/envelope/index.js";
import { exportNotificationKeys } from "../../src/notify/export.js";
import { decodeBlob, NotificationDecryptor, NotifyError } from "../../src/notify/index.js";
import { EpochSenderKeys } from "../../src/senderkeys/index.js";
import { EPOCH, fcSeed, members, ROOM } from "../senderkeys/helpers.js";

const seed = fcSeed("notify");
const clock = { now: () => 1_700_000_000_000n };
const rng = seededRng("notify");
const text = (body: string) => encodeEnvelope(createEnvelope({ t: "text", body }, { clock, rng }));

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return "OK";
  } catch (e) {
    if (e instanceof NotifyError) return e.code;
    throw e;
  }
}

describe("notification keys", () => {
  it("decrypts later messages from every sender with only the blob", () => {
    const group = members(4);
    const [a, b, , d] = group as [
      EpochSenderKeys,
      EpochSenderKeys,
      EpochSenderKeys,
      EpochSenderKeys,
    ];
    const early = b.seal(text("before export"));
    d.open(1, early.generation, early.ciphertext);
    const blob = exportNotificationKeys([d]);
    expect(decodeBlob(blob)[0]?.entries.map((e) => [e.leaf, e.generation])).toEqual([
      [0, 0],
      [1, 1],
      [2, 0],
    ]);
    const dec = NotificationDecryptor.fromBlob(blob);
    const m1 = b.seal(text("one"));
    a.seal(text("skipped"));
    const m2 = a.seal(text("two"));
    const push = (leaf: number, m: { generation: number; ciphertext: Uint8Array }) =>
      dec.decrypt({ roomId: ROOM, epoch: EPOCH, senderLeaf: leaf, ...m });
    expect(push(0, m2)).toMatchObject({ t: "text", body: "two", sent_at: 1_700_000_000_000n });
    expect(push(1, m1)).toMatchObject({ t: "text", body: "one" });
    expect(push(1, m1)).toMatchObject({ body: "one" }); // stateless: the full client detects replays
    expect(codeOf(() => push(1, early))).toBe("KEY_UNAVAILABLE");
    expect(codeOf(() => push(3, m1))).toBe("UNKNOWN_SENDER");
    expect(
      codeOf(() => dec.decrypt({ roomId: ROOM, epoch: EPOCH + 1n, senderLeaf: 1, ...m1 })),
    ).toBe("UNKNOWN_EPOCH");
    expect(codeOf(() => push(1, { generation: 1002, ciphertext: m1.ciphertext }))).toBe(
      "TOO_FAR_AHEAD",
    );
    expect(codeOf(() => push(1, { generation: 2, ciphertext: m1.ciphertext }))).toBe(
      "DECRYPT_FAILED",
    );
    expect(codeOf(() => push(1, { generation: -1, ciphertext: m1.ciphertext }))).toBe(
      "BAD_REQUEST",
    );
    expect(
      codeOf(() =>
        dec.decrypt({ roomId: 1 as unknown as bigint, epoch: EPOCH, senderLeaf: 1, ...m1 }),
      ),
    ).toBe("BAD_REQUEST");
    const junk = b.seal(new Uint8Array([1, 2, 3]));
    expect(codeOf(() => push(1, junk))).toBe("BAD_ENVELOPE");
    dec.destroy();
    expect(codeOf(() => push(1, m1))).toBe("UNKNOWN_EPOCH");
  });

  it("covers several rooms and epochs, lazily derived chains and the own leaf on request", () => {
    const prev = members(3, { epoch: EPOCH - 1n, seed: 5 })[2] as EpochSenderKeys;
    const cur = members(3)[2] as EpochSenderKeys;
    const lazy = new EpochSenderKeys({
      roomId: 99n,
      epoch: 0n,
      exporterSecret: seededBytes(8, 32),
      ownLeaf: 4,
    });
    const blob = exportNotificationKeys([cur, prev, lazy], { leaves: [1, 2], includeOwn: true });
    const groups = decodeBlob(blob);
    expect(groups.map((g) => [g.roomId, g.epoch, g.entries.map((e) => e.leaf)])).toEqual([
      [ROOM, EPOCH, [0, 1, 2]],
      [ROOM, EPOCH - 1n, [0, 1, 2]],
      [99n, 0n, [1, 2, 4]],
    ]);
    expect(() => exportNotificationKeys([cur, cur])).toThrow(/twice/);
  });

  it("keeps a 100-member room within 50 KB (two epochs)", () => {
    const size = (n: number) =>
      exportNotificationKeys(
        [EPOCH - 1n, EPOCH].map(
          (epoch) =>
            new EpochSenderKeys({
              roomId: ROOM,
              epoch,
              exporterSecret: seededBytes(Number(epoch), 32),
              ownLeaf: 0,
              senders: Array.from({ length: n }, (_, i) => i),
            }),
        ),
      ).length;
    expect(size(100)).toBe(8 + 2 * (28 + 99 * 40));
    expect(size(100)).toBeLessThanOrEqual(50_000);
  });

  it("rejects malformed blobs with MALFORMED_BLOB only", () => {
    const blob = exportNotificationKeys([members(3)[0] as EpochSenderKeys]);
    expect(codeOf(() => NotificationDecryptor.fromBlob(blob.subarray(0, blob.length - 1)))).toBe(
      "MALFORMED_BLOB",
    );
    expect(codeOf(() => NotificationDecryptor.fromBlob(new Uint8Array([...blob, 0])))).toBe(
      "MALFORMED_BLOB",
    );
    expect(codeOf(() => NotificationDecryptor.fromBlob(new Uint8Array(4)))).toBe("MALFORMED_BLOB");
    for (const [at, value] of [
      [0, 0],
      [4, 2],
      [5, 1],
    ] as const) {
      const bad = blob.slice();
      bad[at] = value;
      expect(codeOf(() => NotificationDecryptor.fromBlob(bad))).toBe("MALFORMED_BLOB");
    }
    const twice = new Uint8Array(blob.length * 2 - 8);
    twice.set(blob);
    twice.set(blob.subarray(8), blob.length);
    twice[7] = 2;
    expect(codeOf(() => NotificationDecryptor.fromBlob(twice))).toBe("MALFORMED_BLOB");
    const unsorted = blob.slice();
    unsorted.set(blob.subarray(8 + 28, 8 + 28 + 4), 8 + 28 + 40); // second leaf = first leaf
    expect(codeOf(() => NotificationDecryptor.fromBlob(unsorted))).toBe("MALFORMED_BLOB");
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, withHeader) => {
        const input = withHeader ? new Uint8Array([0x4b, 0x4e, 0x4b, 0x31, 1, 0, ...bytes]) : bytes;
        try {
          NotificationDecryptor.fromBlob(input);
        } catch (e) {
          expect(e).toBeInstanceOf(NotifyError);
        }
      }),
      { seed, numRuns: 1000 },
    );
  });
});
