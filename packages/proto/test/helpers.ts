/**
 * Test helpers: deterministic randomness, fast-check parameters with a printed seed, and
 * payload arbitraries generated from the schemas themselves.
 */
import { seededRng } from "@kalandra/test-support";
import fc from "fast-check";
import type { Codec } from "../src/payloads/schema.js";

export { seededRng };

/**
 * fast-check parameters: the seed comes from FC_SEED when set (to replay a failure),
 * otherwise from the clock; it is printed either way so any failure can be replayed.
 */
export function fcParams(numRuns = 200): { seed: number; numRuns: number } {
  const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : Date.now() | 0;
  console.log(`fast-check seed=${seed} (replay with FC_SEED=${seed})`);
  return { seed, numRuns };
}

const u64Arb = fc.oneof(
  fc.bigInt({ min: 0n, max: 0xffffn }),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  fc.constantFrom(0n, (1n << 53n) - 1n, 1n << 53n, (1n << 64n) - 1n),
);

/** An arbitrary producing valid values for a codec, walking its spec. */
export function arbitraryFor(codec: Codec<unknown>): fc.Arbitrary<unknown> {
  const spec = codec.spec;
  switch (spec.kind) {
    case "bytes":
      return spec.length === undefined
        ? fc.uint8Array({ maxLength: 64 })
        : fc.uint8Array({ minLength: spec.length, maxLength: spec.length });
    case "text":
      return fc.string({ maxLength: 24, unit: "grapheme" });
    case "oneOf":
      return fc.constantFrom(...spec.values);
    case "bool":
      return fc.boolean();
    case "uint":
      return fc.oneof(
        fc.nat(),
        fc.constantFrom(0, 23, 24, 255, 256, 65536, Number.MAX_SAFE_INTEGER),
      );
    case "u64":
      return u64Arb;
    case "array":
      return fc.array(arbitraryFor(spec.item), { maxLength: 4 });
    case "nullable":
      return fc.option(arbitraryFor(spec.inner), { nil: null });
    case "struct": {
      const required: Record<string, fc.Arbitrary<unknown>> = {};
      const keys: string[] = [];
      for (const [k, field] of Object.entries(spec.shape)) {
        required[k] = arbitraryFor(field);
        if (!field.optional) keys.push(k);
      }
      return fc.record(required, { requiredKeys: keys });
    }
  }
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

export function unhex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "hex"));
}
