/**
 * A small strict schema language for CBOR payloads (contracts.md "Opcodes and payloads").
 * Each codec checks a decoded CBOR value and converts it to its TypeScript form, and
 * checks a TypeScript value before it is encoded. Any mismatch — missing, extra or wrongly
 * typed field — is a ProtocolError BAD_PAYLOAD naming the path, never another exception.
 */
import { U32_MAX, U64_MAX } from "../constants.js";

const U32_MAX_BIG = BigInt(U32_MAX);

import { ProtocolError } from "../errors.js";

/** The structure of a codec, for tools that walk schemas (docs, test generators). */
export type CodecSpec =
  | { kind: "bytes"; length?: number }
  | { kind: "text" }
  | { kind: "oneOf"; values: readonly string[] }
  | { kind: "bool" }
  | { kind: "uint" }
  | { kind: "u64" }
  | { kind: "array"; item: Codec<unknown> }
  | { kind: "nullable"; inner: Codec<unknown> }
  | { kind: "struct"; shape: Shape };

export interface Codec<T> {
  /** Human-readable type, e.g. `bytes(32)`, used in docs and error messages. */
  readonly describe: string;
  readonly spec: CodecSpec;
  /** Is the field optional inside a struct? */
  readonly optional: boolean;
  /** Check a value produced by the CBOR decoder and convert it. */
  fromCbor(v: unknown, path: string): T;
  /** Check a caller's value and convert it to what the CBOR encoder should write. */
  toCbor(v: unknown, path: string): unknown;
}

export type Infer<C> = C extends Codec<infer T> ? T : never;

function fail(path: string, what: string): never {
  throw new ProtocolError("BAD_PAYLOAD", `${path}: ${what}`);
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (v instanceof Uint8Array) return "bytes";
  return typeof v;
}

function codec<T>(
  describe: string,
  spec: CodecSpec,
  fromCbor: (v: unknown, path: string) => T,
  toCbor: (v: unknown, path: string) => unknown,
): Codec<T> {
  return { describe, spec, optional: false, fromCbor, toCbor };
}

/** A byte string, optionally of an exact length. Decodes to a plain Uint8Array view. */
export function bytes(length?: number): Codec<Uint8Array> {
  const describe = length === undefined ? "bytes" : `bytes(${length})`;
  const check = (v: unknown, path: string): Uint8Array => {
    if (!(v instanceof Uint8Array)) fail(path, `expected ${describe}, got ${typeName(v)}`);
    if (length !== undefined && v.length !== length) {
      fail(path, `expected ${describe}, got ${v.length} bytes`);
    }
    // Buffers (a Uint8Array subclass) become plain views: same memory, uniform type.
    return v.constructor === Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.length);
  };
  return codec(
    describe,
    length === undefined ? { kind: "bytes" } : { kind: "bytes", length },
    check,
    check,
  );
}

export function text(): Codec<string> {
  const check = (v: unknown, path: string): string =>
    typeof v === "string" ? v : fail(path, `expected text, got ${typeName(v)}`);
  return codec("text", { kind: "text" }, check, check);
}

/** Text restricted to the given values. */
export function oneOf<const V extends string>(...values: V[]): Codec<V> {
  const describe = values.map((v) => JSON.stringify(v)).join(" | ");
  const check = (v: unknown, path: string): V =>
    typeof v === "string" && (values as string[]).includes(v)
      ? (v as V)
      : fail(
          path,
          `expected ${describe}, got ${typeof v === "string" ? JSON.stringify(v) : typeName(v)}`,
        );
  return codec(`text (${describe})`, { kind: "oneOf", values }, check, check);
}

export function bool(): Codec<boolean> {
  const check = (v: unknown, path: string): boolean =>
    typeof v === "boolean" ? v : fail(path, `expected bool, got ${typeName(v)}`);
  return codec("bool", { kind: "bool" }, check, check);
}

/** An unsigned integer that fits a JS number exactly (≤ 2^53−1). */
export function uint(): Codec<number> {
  const fromCbor = (v: unknown, path: string): number => {
    if (typeof v === "bigint" && v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
    if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return v;
    return fail(path, `expected uint, got ${typeName(v)} ${String(v)}`);
  };
  const toCbor = (v: unknown, path: string): number | bigint => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      return fail(path, `expected uint, got ${typeName(v)}`);
    }
    // cbor-x writes numbers above 2^32 as float64; a bigint makes it write an integer.
    return v > U32_MAX ? BigInt(v) : v;
  };
  return codec("uint", { kind: "uint" }, fromCbor, toCbor);
}

/**
 * A u64 quantity (epoch, log_index, sender_id, …), a bigint in TypeScript. Written in the
 * shortest CBOR integer form; any integer encoding in 0..2^64−1 is accepted on decode.
 */
export function u64(): Codec<bigint> {
  const fromCbor = (v: unknown, path: string): bigint => {
    if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
    if (typeof v === "bigint" && v >= 0n && v <= U64_MAX) return v;
    return fail(path, `expected u64, got ${typeName(v)}`);
  };
  const toCbor = (v: unknown, path: string): number | bigint => {
    if (typeof v !== "bigint" || v < 0n || v > U64_MAX) {
      return fail(path, `expected u64 bigint, got ${typeName(v)}`);
    }
    // Up to 2^32−1 as numbers so cbor-x writes the shortest integer form (RFC 8949
    // §4.2.1); above, as bigint, which it writes as an 8-byte integer (a number above
    // 2^32 would become a float64).
    return v <= U32_MAX_BIG ? Number(v) : v;
  };
  return codec("u64", { kind: "u64" }, fromCbor, toCbor);
}

export function array<T>(item: Codec<T>): Codec<T[]> {
  const map =
    (dir: "fromCbor" | "toCbor") =>
    (v: unknown, path: string): T[] => {
      if (!Array.isArray(v)) return fail(path, `expected array, got ${typeName(v)}`);
      const out = new Array<T>(v.length);
      for (let i = 0; i < v.length; i++) out[i] = item[dir](v[i], `${path}[${i}]`) as T;
      return out;
    };
  return codec(
    `${item.describe}[]`,
    { kind: "array", item: item as Codec<unknown> },
    map("fromCbor"),
    map("toCbor"),
  );
}

export function nullable<T>(inner: Codec<T>): Codec<T | null> {
  return codec(
    `${inner.describe} | null`,
    { kind: "nullable", inner: inner as Codec<unknown> },
    (v, path) => (v === null ? null : inner.fromCbor(v, path)),
    (v, path) => (v === null ? null : inner.toCbor(v, path)),
  );
}

/** Marks a struct field optional (`?` in contracts.md): absent is fine, null/undefined values are not. */
export function optional<T>(inner: Codec<T>): Codec<T | undefined> & { readonly optional: true } {
  return { ...inner, describe: inner.describe, optional: true } as Codec<T | undefined> & {
    readonly optional: true;
  };
}

export type Shape = Record<string, Codec<unknown>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
type OptionalKeys<S extends Shape> = {
  [K in keyof S]: S[K] extends { readonly optional: true } ? K : never;
}[keyof S];
export type InferShape<S extends Shape> = Simplify<
  { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & {
    [K in OptionalKeys<S>]?: Exclude<Infer<S[K]>, undefined>;
  }
>;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== "object") return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

export interface StructCodec<S extends Shape> extends Codec<InferShape<S>> {
  readonly shape: S;
}

/**
 * A CBOR map with exactly these text keys (optional ones may be absent). The result is a
 * fresh plain object with the keys in schema order, so encoding is deterministic.
 */
export function struct<S extends Shape>(shape: S): StructCodec<S> {
  const keys = Object.keys(shape);
  const describe = `{${keys
    .map((k) => `${k}${shape[k]!.optional ? "?" : ""}: ${shape[k]!.describe}`)
    .join(", ")}}`;
  const map =
    (dir: "fromCbor" | "toCbor") =>
    (v: unknown, path: string): InferShape<S> => {
      if (!isPlainObject(v)) return fail(path, `expected map, got ${typeName(v)}`);
      for (const k of Object.keys(v)) {
        if (!Object.hasOwn(shape, k)) {
          // An encoder caller may leave an optional field explicitly undefined.
          if (dir === "toCbor" && v[k] === undefined) continue;
          fail(path, `unexpected field "${k}"`);
        }
      }
      const out: Record<string, unknown> = {};
      for (const k of keys) {
        const field = shape[k]!;
        const present = Object.hasOwn(v, k) && !(dir === "toCbor" && v[k] === undefined);
        if (!present) {
          if (field.optional) continue;
          fail(path, `missing field "${k}"`);
        }
        out[k] = field[dir](v[k], path === "" ? k : `${path}.${k}`);
      }
      return out as InferShape<S>;
    };
  return {
    describe,
    spec: { kind: "struct", shape },
    optional: false,
    shape,
    fromCbor: map("fromCbor"),
    toCbor: map("toCbor"),
  };
}
