/**
 * A strict well-formedness pass over a CBOR payload before cbor-x decodes it (RFC 8949
 * §3, §5.3). cbor-x is lenient in ways a strict schema cannot see afterwards: it replaces
 * invalid UTF-8, lets the last of duplicate map keys win, turns tags into Dates or
 * bigints, and decodes integer-valued floats to integers. Payload schemas use none of
 * those, so this pass refuses them up front:
 *
 * - map keys are text strings, unique within their map;
 * - text strings are valid UTF-8;
 * - no tags (major type 6), no floats, no `undefined` or other simple values (only
 *   false, true, null);
 * - nesting at most {@link MAX_DEPTH} deep; exactly one data item, no trailing bytes.
 *
 * Accepted on purpose: integers in a longer form than needed and indefinite-length arrays
 * and maps (valid CBOR that some encoders emit). Indefinite-length strings are refused
 * (cbor-x cannot decode them). Linear in the input; byte strings are skipped by length.
 */
import { isUtf8 } from "#platform/bytes";
import { ProtocolError } from "./errors.js";

/** Deepest nesting of arrays/maps accepted; the schemas nest at most 4 levels. */
export const MAX_DEPTH = 16;

const BREAK = -1;
const keyDecoder = new TextDecoder("utf-8", { fatal: true });

function bad(at: number, why: string): never {
  throw new ProtocolError("BAD_PAYLOAD", `CBOR at byte ${at}: ${why}`);
}

class Walker {
  pos = 0;
  constructor(private readonly b: Uint8Array) {}

  /** The argument of the head at `pos` (RFC 8949 §3), or BREAK-style -1 for indefinite. */
  private argument(ai: number, at: number): number {
    const b = this.b;
    if (ai < 24) return ai;
    const size = ai === 24 ? 1 : ai === 25 ? 2 : ai === 26 ? 4 : ai === 27 ? 8 : 0;
    if (size === 0) {
      if (ai === 31) return -1;
      return bad(at, `reserved additional information ${ai}`);
    }
    if (this.pos + size > b.length) return bad(at, "truncated head");
    let v = 0;
    for (let i = 0; i < size; i++) v = v * 256 + b[this.pos + i]!;
    this.pos += size;
    return v; // above 2^53 it is inexact, which only matters for lengths: they fail below
  }

  /** Skip one data item; returns BREAK when it was a break code (only valid where allowed). */
  item(depth: number): number {
    const b = this.b;
    const at = this.pos;
    if (at >= b.length) return bad(at, "truncated");
    const ib = b[at]!;
    this.pos++;
    const major = ib >> 5;
    const ai = ib & 0x1f;
    if (major === 7) {
      if (ai === 31) return BREAK;
      if (ai === 20 || ai === 21 || ai === 22) return 0; // false, true, null
      return bad(at, ai >= 25 && ai <= 27 ? "floats are not allowed" : `simple value ${ai}`);
    }
    const arg = this.argument(ai, at);
    switch (major) {
      case 0:
      case 1:
        if (arg < 0) return bad(at, "indefinite-length integer");
        return 0;
      case 2:
      case 3: {
        if (arg < 0) return bad(at, "indefinite-length strings are not supported");
        if (arg > b.length - this.pos) return bad(at, "string longer than the input");
        const start = this.pos;
        this.pos += arg;
        if (major === 3 && !isUtf8(b.subarray(start, this.pos))) {
          return bad(at, "text is not valid UTF-8");
        }
        return 0;
      }
      case 4: {
        if (depth >= MAX_DEPTH) return bad(at, `nested deeper than ${MAX_DEPTH}`);
        if (arg < 0) {
          while (this.item(depth + 1) !== BREAK) {}
          return 0;
        }
        if (arg > b.length - this.pos) return bad(at, "array longer than the input");
        for (let i = 0; i < arg; i++) this.expectItem(depth + 1);
        return 0;
      }
      case 5: {
        if (depth >= MAX_DEPTH) return bad(at, `nested deeper than ${MAX_DEPTH}`);
        if (arg >= 0 && arg > (b.length - this.pos) / 2) {
          return bad(at, "map longer than the input");
        }
        const keys = new Set<string>();
        for (let i = 0; arg < 0 || i < arg; i++) {
          const keyAt = this.pos;
          if (arg < 0 && b[keyAt] === 0xff) {
            this.pos++;
            break;
          }
          const key = this.textKey(keyAt);
          if (keys.has(key)) return bad(keyAt, `duplicate map key "${key}"`);
          keys.add(key);
          this.expectItem(depth + 1);
        }
        return 0;
      }
      default: // 6: tags
        return bad(at, "tags are not allowed");
    }
  }

  private expectItem(depth: number): void {
    const at = this.pos;
    if (this.item(depth) === BREAK) bad(at, "unexpected break");
  }

  private textKey(at: number): string {
    const b = this.b;
    if (at >= b.length) return bad(at, "truncated");
    if (b[at]! >> 5 !== 3) return bad(at, "map keys must be text strings");
    this.expectItem(MAX_DEPTH);
    // The key's bytes were validated as UTF-8 by item(); decode them for the duplicate check.
    const ai = b[at]! & 0x1f;
    const headLen = ai < 24 ? 1 : ai === 24 ? 2 : ai === 25 ? 3 : ai === 26 ? 5 : 9;
    return keyDecoder.decode(b.subarray(at + headLen, this.pos));
  }
}

/** Throws ProtocolError BAD_PAYLOAD unless `bytes` is exactly one CBOR item of the strict subset. */
export function checkStrictCbor(bytes: Uint8Array): void {
  const w = new Walker(bytes);
  const at = w.pos;
  if (w.item(0) === BREAK) bad(at, "unexpected break");
  if (w.pos !== bytes.length) bad(w.pos, `${bytes.length - w.pos} trailing bytes`);
}
