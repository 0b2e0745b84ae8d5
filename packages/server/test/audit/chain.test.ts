import { stateCborEncode } from "@kalandra/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AuditFormatError,
  decodeAuditRecord,
  decodeHead,
  EMPTY_HEAD,
  encodeAuditRecord,
  encodeHead,
  GENESIS_HASH,
  hashRecord,
  verifyAuditChain,
} from "../../src/audit/chain.js";
import type { AuditRecord } from "../../src/storage/types.js";

const record = fc.record(
  {
    kind: fc.constantFrom("secure_delete", "kick", "ban", "unban", "authority"),
    at: fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
    roomId: fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
    actor: fc.string({ maxLength: 20 }),
    detail: fc.dictionary(
      fc.string({ minLength: 1, maxLength: 8 }),
      fc.oneof(
        fc.string({ maxLength: 10 }),
        fc.boolean(),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      ),
      { maxKeys: 4 },
    ),
  },
  { requiredKeys: ["kind", "at", "actor", "detail"] },
) as fc.Arbitrary<AuditRecord>;

/** Builds a chain the way a writer does: records keyed by position, plus the head. */
function build(records: AuditRecord[]) {
  let prev = GENESIS_HASH;
  const stored = records.map((r, i) => {
    const bytes = encodeAuditRecord(prev, BigInt(i), r);
    prev = hashRecord(bytes);
    return { key: BigInt(i), bytes };
  });
  return { stored, head: { count: BigInt(records.length), hash: prev } };
}

const chain = fc.array(record, { minLength: 1, maxLength: 12 });

describe("audit chain", () => {
  it("round-trips records through encode and decode", () => {
    fc.assert(
      fc.property(record, fc.bigInt({ min: 0n, max: 1000n }), (r, seq) => {
        const prev = hashRecord(new Uint8Array([1]));
        const d = decodeAuditRecord(encodeAuditRecord(prev, seq, r));
        expect(d.seq).toBe(seq);
        expect(d.prev).toEqual(prev);
        expect(d.record).toEqual(r);
      }),
    );
  });

  it("verifies an untouched chain, with or without its head", () => {
    fc.assert(
      fc.property(chain, (records) => {
        const { stored, head } = build(records);
        expect(verifyAuditChain(stored, head)).toEqual({ ok: true, records: records.length });
        expect(verifyAuditChain(stored)).toEqual({ ok: true, records: records.length });
      }),
    );
    expect(verifyAuditChain([], EMPTY_HEAD)).toEqual({ ok: true, records: 0 });
  });

  it("reports an edited record at its index", () => {
    fc.assert(
      fc.property(
        chain,
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (records, i, at, x) => {
          const { stored, head } = build(records);
          const victim = stored[i % stored.length];
          if (victim === undefined) return;
          const bytes = new Uint8Array(victim.bytes);
          const pos = 32 + (at % (bytes.length - 32));
          bytes[pos] = (bytes[pos] ?? 0) ^ x;
          victim.bytes = bytes;
          const v = verifyAuditChain(stored, head);
          expect(v.ok).toBe(false);
          if (!v.ok) expect(v.firstBroken).toBe(i % stored.length);
        },
      ),
    );
  });

  it("reports a dropped record, renumbered or not, at its index", () => {
    fc.assert(
      fc.property(chain, fc.nat(), fc.boolean(), (records, i, renumber) => {
        const { stored, head } = build(records);
        const gone = i % stored.length;
        const left = stored.filter((_, j) => j !== gone);
        const kept = renumber ? left.map((r, j) => ({ key: BigInt(j), bytes: r.bytes })) : left;
        const v = verifyAuditChain(kept, head);
        expect(v).toMatchObject({ ok: false, firstBroken: gone });
      }),
    );
  });

  it("reports reordered records at the first moved one", () => {
    fc.assert(
      fc.property(
        fc.array(record, { minLength: 2, maxLength: 12 }),
        fc.nat(),
        fc.nat(),
        (records, a, b) => {
          const { stored, head } = build(records);
          const i = a % stored.length;
          const j = b % stored.length;
          if (i === j) return;
          const si = stored[i];
          const sj = stored[j];
          if (si === undefined || sj === undefined) return;
          [si.bytes, sj.bytes] = [sj.bytes, si.bytes];
          expect(verifyAuditChain(stored, head)).toMatchObject({
            ok: false,
            firstBroken: Math.min(i, j),
          });
        },
      ),
    );
  });

  it("needs the head to notice a dropped tail", () => {
    const { stored, head } = build([
      { kind: "kick", at: 1n, actor: "a", detail: {} },
      { kind: "ban", at: 2n, actor: "a", detail: {} },
    ]);
    expect(verifyAuditChain(stored.slice(0, 1))).toEqual({ ok: true, records: 1 });
    expect(verifyAuditChain(stored.slice(0, 1), head)).toMatchObject({ ok: false, firstBroken: 1 });
    expect(verifyAuditChain(stored, { count: 1n, hash: head.hash })).toMatchObject({
      ok: false,
      firstBroken: 1,
    });
    expect(verifyAuditChain(stored, { count: 2n, hash: GENESIS_HASH })).toMatchObject({
      ok: false,
      firstBroken: 1,
    });
  });

  it("blames the earlier record when a link is broken by an edited prev", () => {
    const { stored, head } = build([
      { kind: "kick", at: 1n, actor: "a", detail: {} },
      { kind: "ban", at: 2n, actor: "a", detail: {} },
      { kind: "ban", at: 3n, actor: "a", detail: {} },
    ]);
    const s2 = stored[2];
    if (s2 === undefined) throw new Error("missing");
    s2.bytes = new Uint8Array(s2.bytes);
    s2.bytes[0] = (s2.bytes[0] ?? 0) ^ 1;
    expect(verifyAuditChain(stored, head)).toMatchObject({ ok: false, firstBroken: 1 });
    const s0 = stored[0];
    if (s0 === undefined) throw new Error("missing");
    s0.bytes = new Uint8Array(s0.bytes);
    s0.bytes[0] = 1;
    expect(verifyAuditChain(stored, head)).toMatchObject({ ok: false, firstBroken: 0 });
  });

  it("rejects bytes that are not a record with a labelled error", () => {
    const prev = new Uint8Array(32);
    const bad = (body: unknown) => {
      const b = stateCborEncode(body);
      const out = new Uint8Array(32 + b.length);
      out.set(b, 32);
      return out;
    };
    expect(() => decodeAuditRecord(new Uint8Array(10))).toThrow(AuditFormatError);
    expect(() => decodeAuditRecord(new Uint8Array([...prev, 0xff, 0xff]))).toThrow(
      AuditFormatError,
    );
    expect(() => decodeAuditRecord(bad(5))).toThrow(/not a map/);
    expect(() => decodeAuditRecord(bad({ v: 2 }))).toThrow(/version/);
    expect(() => decodeAuditRecord(bad({ v: 1, kind: 1, actor: "a" }))).toThrow(/text/);
    expect(() => decodeAuditRecord(bad({ v: 1, kind: "k", actor: "a", detail: [] }))).toThrow(
      /detail/,
    );
    expect(() =>
      decodeAuditRecord(bad({ v: 1, kind: "k", actor: "a", detail: {}, at: "x", seq: 0 })),
    ).toThrow(/"at"/);
    expect(
      decodeAuditRecord(bad({ v: 1, kind: "k", actor: "a", detail: {}, at: 5, seq: 0 })).record.at,
    ).toBe(5n);
    expect(() =>
      encodeAuditRecord(new Uint8Array(3), 0n, { kind: "k", at: 0n, actor: "", detail: {} }),
    ).toThrow(AuditFormatError);
    const v = verifyAuditChain([{ key: 0n, bytes: bad({ v: 9 }) }]);
    expect(v).toMatchObject({ ok: false, firstBroken: 0 });
  });

  it("encodes the head as count and hash", () => {
    const head = { count: 7n, hash: hashRecord(new Uint8Array([1, 2])) };
    expect(decodeHead(encodeHead(head))).toEqual(head);
    expect(() => decodeHead(new Uint8Array(3))).toThrow(AuditFormatError);
  });
});
