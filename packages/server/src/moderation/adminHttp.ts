/**
 * How the admin API's routes read a request and shape an answer (moderation/adminApi.ts,
 * moderation/roomRoutes.ts): labelled 400s for bad input, refusals mapped to HTTP statuses,
 * and JSON that carries u64/u128 as decimal strings (they do not fit a double).
 */
import type { Refusal } from "../vocabulary/outcome.js";

export interface AdminResponse {
  status: number;
  body: unknown;
}

/** Bad input from the caller: answered 400 with its message. */
export class BadRequest extends Error {}

/** A percent-encoded path segment; malformed encoding is the caller's error (400), not ours. */
export function percentDecoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadRequest("malformed percent-encoding in the path");
  }
}

export function text(v: unknown, name: string): string {
  if (typeof v !== "string" || v.length === 0 || v.length > 256)
    throw new BadRequest(`"${name}" expected a non-empty string`);
  return v;
}

export function reasonOf(b: Record<string, unknown>): string {
  if (b.reason === undefined) return "";
  if (typeof b.reason !== "string" || b.reason.length > 1024)
    throw new BadRequest('"reason" expected a string of at most 1024 characters');
  return b.reason;
}

export function unsigned(v: unknown, name: string, bits: bigint): bigint {
  let n: bigint;
  try {
    if (typeof v === "number" && Number.isSafeInteger(v)) n = BigInt(v);
    else if (typeof v === "string" && /^(0x[0-9a-fA-F]+|[0-9]+)$/.test(v)) n = BigInt(v);
    else throw new Error();
  } catch {
    throw new BadRequest(`"${name}" expected an unsigned integer (decimal or 0x string)`);
  }
  if (n < 0n || n >= 1n << bits) throw new BadRequest(`"${name}" out of range`);
  return n;
}

export const roomOf = (v: unknown): bigint => unsigned(v, "room", 128n);
export const indexOf = (v: unknown): bigint => unsigned(v, "index", 64n);
export const count = (v: unknown, name: string): number => Number(unsigned(v, name, 53n));

export function ok(body: unknown): AdminResponse {
  return { status: 200, body: jsonSafe(body) };
}

const STATUS: Record<string, number> = {
  NOT_FOUND: 404,
  UNKNOWN_ROOM: 404,
  NOT_MEMBER: 404,
  FORBIDDEN: 403,
  BAD_PAYLOAD: 400,
};

export function reply(r: { ok: true } | { ok: false; refusal: Refusal }): AdminResponse {
  if (r.ok) return ok(r);
  const status = STATUS[r.refusal.code] ?? (r.refusal.code === "INTERNAL" ? 500 : 409);
  return { status, body: { ok: false, error: r.refusal.code, message: r.refusal.message } };
}

/** bigint → decimal string, bytes → hex, so any result serialises as JSON. */
export function jsonSafe(v: unknown): unknown {
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString("hex");
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = jsonSafe(x);
    return out;
  }
  return v;
}
