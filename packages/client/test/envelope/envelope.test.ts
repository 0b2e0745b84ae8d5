import { seededBytes, seededRng } from "@kalandra/test-support";
import { Encoder } from "cbor-x/encode";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bucketFor,
  createEnvelope,
  decodeEnvelope,
  type EnvelopeContent,
  EnvelopeError,
  encodeEnvelope,
  type MessageEnvelope,
  openAttachment,
  sealAttachment,
} from "../../src/envelope/index.js";
import { pad, unpad } from "../../src/envelope/padding.js";
import { fcSeed } from "../senderkeys/helpers.js";

const seed = fcSeed("envelope");
const rng = seededRng("envelope");
const clock = { now: () => 1_700_000_000_123n };
const raw = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });
const rawPadded = (v: unknown): Uint8Array => pad(new Uint8Array(raw.encode(v)));

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return "OK";
  } catch (e) {
    if (e instanceof EnvelopeError) return e.code;
    throw e;
  }
}

const hash = seededBytes(77, 32);
const samples: EnvelopeContent[] = [
  { t: "text", body: "hello, world ✓" },
  { t: "text", body: "" },
  { t: "edit", target: 12n, body: "fixed" },
  { t: "reply", target: (1n << 64n) - 1n, body: "re" },
  { t: "reaction", target: 0n, emoji: "👍" },
  { t: "attachment", hash, size: 1234, mime: "image/png" },
  {
    t: "attachment",
    hash,
    size: 0,
    mime: "text/plain; charset=utf-8",
    name: "a.txt",
    key: seededBytes(3, 32),
  },
];

describe("envelope codec", () => {
  it("round trips every envelope type", () => {
    for (const c of samples) {
      const env = createEnvelope(c, { clock, rng });
      expect(env.id.length).toBe(16);
      expect(env.sent_at).toBe(1_700_000_000_123n);
      const bytes = encodeEnvelope(env);
      expect(bytes.length).toBe(bucketFor(bytes.length));
      expect(decodeEnvelope(bytes)).toEqual(env);
    }
  });

  it("pads to buckets: equal sizes for short messages, powers of two, then 16 KiB steps", () => {
    expect([1, 128, 129, 5000, 16384, 16385, 40000].map(bucketFor)).toEqual([
      128, 128, 256, 8192, 16384, 32768, 49152,
    ]);
    const short = encodeEnvelope(createEnvelope({ t: "text", body: "a" }, { clock, rng }));
    const longer = encodeEnvelope(
      createEnvelope({ t: "text", body: "a".repeat(60) }, { clock, rng }),
    );
    expect(short.length).toBe(longer.length);
    expect(
      codeOf(() =>
        encodeEnvelope(createEnvelope({ t: "text", body: "x".repeat(70_000) }, { clock, rng })),
      ),
    ).toBe("TOO_LARGE");
  });

  it("rejects malformed padding", () => {
    const good = pad(new Uint8Array([1, 2, 3]));
    expect(unpad(good)).toEqual(new Uint8Array([1, 2, 3]));
    expect(codeOf(() => unpad(new Uint8Array(128)))).toBe("BAD_PADDING");
    expect(codeOf(() => unpad(new Uint8Array(0)))).toBe("BAD_PADDING");
    expect(codeOf(() => unpad(good.subarray(0, 100)))).toBe("BAD_PADDING");
    const noMarker = good.slice();
    noMarker[3] = 0x7f;
    expect(codeOf(() => unpad(noMarker))).toBe("BAD_PADDING");
    expect(codeOf(() => unpad(new Uint8Array(2 * 1024 * 1024)))).toBe("TOO_LARGE");
  });

  it("rejects a table of hostile inputs with typed errors", () => {
    const id = seededBytes(5, 16);
    const base = { t: "text", id, sent_at: 1, body: "x" };
    const cases: [unknown, string][] = [
      [[1, 2], "NOT_A_MAP"],
      ["text", "NOT_A_MAP"],
      [null, "NOT_A_MAP"],
      [new Map([["t", "text"]]), "NOT_A_MAP"],
      [{ ...base, t: "poll" }, "UNKNOWN_TYPE"],
      [{ ...base, t: 1 }, "UNKNOWN_TYPE"],
      [{ ...base, t: "toString" }, "UNKNOWN_TYPE"],
      [{ ...base, extra: 1 }, "UNKNOWN_FIELD"],
      [{ ...base, __proto__x: 1 }, "UNKNOWN_FIELD"],
      [{ t: "text", id, sent_at: 1 }, "MISSING_FIELD"],
      [{ t: "text", sent_at: 1, body: "" }, "MISSING_FIELD"],
      [{ ...base, id: seededBytes(5, 15) }, "INVALID_FIELD"],
      [{ ...base, id: "0123456789abcdef" }, "INVALID_FIELD"],
      [{ ...base, sent_at: -1 }, "INVALID_FIELD"],
      [{ ...base, sent_at: 1.5 }, "INVALID_FIELD"],
      [{ ...base, sent_at: "1" }, "INVALID_FIELD"],
      [{ ...base, body: 5 }, "INVALID_FIELD"],
      [{ t: "edit", id, sent_at: 1, target: -3, body: "" }, "INVALID_FIELD"],
      [{ t: "reaction", id, sent_at: 1, target: 1, emoji: "" }, "INVALID_FIELD"],
      [{ t: "reaction", id, sent_at: 1, target: 1, emoji: "x".repeat(65) }, "TOO_LARGE"],
      [{ t: "reaction", id, sent_at: 1, target: 1, body: "x" }, "UNKNOWN_FIELD"],
      [
        { t: "attachment", id, sent_at: 1, hash: seededBytes(1, 31), size: 1, mime: "a/b" },
        "INVALID_FIELD",
      ],
      [{ t: "attachment", id, sent_at: 1, hash, size: -1, mime: "a/b" }, "INVALID_FIELD"],
      [{ t: "attachment", id, sent_at: 1, hash, size: 2 ** 60, mime: "a/b" }, "INVALID_FIELD"],
      [{ t: "attachment", id, sent_at: 1, hash, size: 1, mime: "nonsense" }, "INVALID_FIELD"],
      [
        { t: "attachment", id, sent_at: 1, hash, size: 1, mime: "a/b", key: seededBytes(1, 16) },
        "INVALID_FIELD",
      ],
      [{ t: "attachment", id, sent_at: 1, hash, size: 1, mime: "a/b", name: 7 }, "INVALID_FIELD"],
      [{ t: "attachment", id, sent_at: 1, hash, size: 1, mime: "a/b", thumb: 1 }, "INVALID_FIELD"],
      ...(
        [
          [{ hash, size: 1, mime: "image/png" }, "MISSING_FIELD"],
          [{ hash, size: 1, mime: "image/png", key: hash, w: 1 }, "UNKNOWN_FIELD"],
          [{ hash, size: -2, mime: "image/png", key: hash }, "INVALID_FIELD"],
          [{ hash, size: 1, mime: "png", key: hash }, "INVALID_FIELD"],
          [{ hash, size: 1, mime: "image/png", key: seededBytes(2, 31) }, "INVALID_FIELD"],
        ] as const
      ).map(([thumb, code]): [unknown, string] => [
        { t: "attachment", id, sent_at: 1, hash, size: 1, mime: "a/b", thumb },
        code,
      ]),
    ];
    for (const [value, code] of cases) {
      expect([value, codeOf(() => decodeEnvelope(rawPadded(value)))]).toEqual([value, code]);
    }
    // a "__proto__" key must not smuggle a prototype in
    const proto = new Uint8Array([0xa1, 0x69, ...new TextEncoder().encode("__proto__"), 0xa0]);
    expect(codeOf(() => decodeEnvelope(pad(proto)))).not.toBe("OK");
    expect(codeOf(() => decodeEnvelope(pad(new Uint8Array([0xa1, 0x61]))))).toBe("MALFORMED_CBOR");
    expect(codeOf(() => decodeEnvelope(pad(new Uint8Array([0xa0, 0xa0]))))).toBe("MALFORMED_CBOR");
    // a lone "break" byte: cbor-x yields its internal stop marker, still a typed rejection
    expect(["MALFORMED_CBOR", "UNKNOWN_TYPE"]).toContain(
      codeOf(() => decodeEnvelope(pad(new Uint8Array([0xff])))),
    );
    expect(codeOf(() => decodeEnvelope("nope" as unknown as Uint8Array))).toBe("MALFORMED_CBOR");
    expect(
      codeOf(() =>
        createEnvelope(
          { t: "text", body: "x" },
          { clock, rng: { bytes: () => new Uint8Array(3) } },
        ),
      ),
    ).toBe("INVALID_FIELD");
  });

  it("never throws anything but EnvelopeError on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, padded) => {
        const input = padded ? pad(bytes) : bytes;
        try {
          decodeEnvelope(input);
        } catch (e) {
          expect(e).toBeInstanceOf(EnvelopeError);
        }
      }),
      { seed, numRuns: 2000 },
    );
  });

  it("round trips arbitrary valid envelopes (property)", () => {
    const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
    const content: fc.Arbitrary<EnvelopeContent> = fc.oneof(
      fc.record({ t: fc.constant("text" as const), body: fc.string({ maxLength: 200 }) }),
      fc.record({ t: fc.constant("edit" as const), target: u64, body: fc.string() }),
      fc.record({ t: fc.constant("reply" as const), target: u64, body: fc.string() }),
      fc.record({
        t: fc.constant("reaction" as const),
        target: u64,
        emoji: fc.string({ minLength: 1, maxLength: 8 }),
      }),
      fc.record(
        {
          t: fc.constant("attachment" as const),
          hash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
          size: fc.maxSafeNat(),
          mime: fc.constantFrom("image/png", "application/octet-stream"),
          name: fc.string({ maxLength: 40 }),
          key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
          thumb: fc.record({
            hash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
            size: fc.nat(),
            mime: fc.constantFrom("image/jpeg", "image/webp"),
            key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
          }),
        },
        { requiredKeys: ["t", "hash", "size", "mime"] },
      ),
    );
    fc.assert(
      fc.property(
        content,
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        u64,
        (c, id, sent_at) => {
          const env = { ...c, id, sent_at } as MessageEnvelope;
          expect(decodeEnvelope(encodeEnvelope(env))).toEqual(env);
        },
      ),
      { seed, numRuns: 300 },
    );
  });
});

describe("attachments", () => {
  it("seals, addresses by BLAKE3 and opens; tampering is typed", () => {
    const content = new TextEncoder().encode("file contents");
    const a = sealAttachment(content, rng);
    expect(a.hash.length).toBe(32);
    expect(a.size).toBe(content.length);
    expect(openAttachment(a.blob, a)).toEqual(content);
    const bad = a.blob.slice();
    bad[0] = (bad[0] as number) ^ 1;
    expect(codeOf(() => openAttachment(bad, a))).toBe("ATTACHMENT_HASH_MISMATCH");
    expect(codeOf(() => openAttachment(a.blob, { hash: a.hash, key: new Uint8Array(32) }))).toBe(
      "ATTACHMENT_DECRYPT_FAILED",
    );
    expect(codeOf(() => openAttachment(a.blob, { hash: a.hash, key: new Uint8Array(8) }))).toBe(
      "INVALID_FIELD",
    );
  });
});
