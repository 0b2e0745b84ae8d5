/**
 * Strict validation of a decoded envelope map: exactly the keys of its type, each with
 * the right CBOR type and range. Every failure is an `EnvelopeError`; byte strings are
 * copied out of the decoder's buffer.
 */
import { EnvelopeError } from "./errors.js";
import {
  type AttachmentThumb,
  CONTENT_KEY_BYTES,
  HASH_BYTES,
  ID_BYTES,
  MAX_BODY_BYTES,
  MAX_EMOJI_BYTES,
  MAX_MIME_BYTES,
  MAX_NAME_BYTES,
  type MessageEnvelope,
} from "./types.js";

const COMMON = ["t", "id", "sent_at"] as const;
const FIELDS = {
  text: { required: ["body"], optional: [] },
  edit: { required: ["target", "body"], optional: [] },
  reply: { required: ["target", "body"], optional: [] },
  reaction: { required: ["target", "emoji"], optional: [] },
  attachment: { required: ["hash", "size", "mime"], optional: ["name", "key", "thumb"] },
} as const satisfies Record<string, { required: readonly string[]; optional: readonly string[] }>;
type KnownType = keyof typeof FIELDS;

const U64_MAX = (1n << 64n) - 1n;
const utf8Len = (s: string): number => new TextEncoder().encode(s).length;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function u64(v: unknown, field: string): bigint {
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === "bigint" && v >= 0n && v <= U64_MAX) return v;
  throw new EnvelopeError("INVALID_FIELD", `"${field}" expected u64`, field);
}

function bytes(v: unknown, field: string, len: number): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== len) {
    throw new EnvelopeError("INVALID_FIELD", `"${field}" expected ${len} bytes`, field);
  }
  return Uint8Array.from(v);
}

function text(v: unknown, field: string, maxBytes: number, nonEmpty = false): string {
  if (typeof v !== "string")
    throw new EnvelopeError("INVALID_FIELD", `"${field}" expected text`, field);
  const n = utf8Len(v);
  if (n > maxBytes) {
    throw new EnvelopeError("TOO_LARGE", `"${field}" is ${n} bytes, at most ${maxBytes}`, field);
  }
  if (nonEmpty && n === 0) throw new EnvelopeError("INVALID_FIELD", `"${field}" is empty`, field);
  return v;
}

// type "/" subtype, visible ASCII without spaces (RFC 6838 §4.2 names, parameters allowed).
const MIME = /^[!#$&^_.+\-0-9A-Za-z]+\/[!#$&^_.+\-0-9A-Za-z]+(;[\x21-\x7e ]*)?$/;

function blobSize(v: unknown, field: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new EnvelopeError("INVALID_FIELD", `"${field}" expected a non-negative integer`, field);
  }
  return v;
}

function mediaType(v: unknown, field: string): string {
  const mime = text(v, field, MAX_MIME_BYTES, true);
  if (!MIME.test(mime))
    throw new EnvelopeError("INVALID_FIELD", `"${field}" is not a media type`, field);
  return mime;
}

const THUMB_FIELDS = ["hash", "size", "mime", "key"] as const;

/** `thumb`: exactly {hash, size, mime, key}; errors name the field as `thumb.<key>`. */
function thumb(v: unknown): AttachmentThumb {
  if (!isPlainObject(v))
    throw new EnvelopeError("INVALID_FIELD", `"thumb" expected a map`, "thumb");
  for (const k of Object.keys(v)) {
    if (!(THUMB_FIELDS as readonly string[]).includes(k))
      throw new EnvelopeError("UNKNOWN_FIELD", `unknown key "${k}" in thumb`, `thumb.${k}`);
  }
  for (const k of THUMB_FIELDS) {
    if (v[k] === undefined)
      throw new EnvelopeError("MISSING_FIELD", `missing "${k}" in thumb`, `thumb.${k}`);
  }
  return {
    hash: bytes(v.hash, "thumb.hash", HASH_BYTES),
    size: blobSize(v.size, "thumb.size"),
    mime: mediaType(v.mime, "thumb.mime"),
    key: bytes(v.key, "thumb.key", CONTENT_KEY_BYTES),
  };
}

/** Validates an untrusted decoded value into a `MessageEnvelope`. */
export function validateEnvelope(v: unknown): MessageEnvelope {
  if (!isPlainObject(v)) throw new EnvelopeError("NOT_A_MAP", "envelope is not a CBOR map");
  const t = v.t;
  if (typeof t !== "string" || !Object.hasOwn(FIELDS, t)) {
    throw new EnvelopeError("UNKNOWN_TYPE", `unknown envelope type ${JSON.stringify(t)}`, "t");
  }
  const spec = FIELDS[t as KnownType];
  const allowed = new Set<string>([...COMMON, ...spec.required, ...spec.optional]);
  for (const k of Object.keys(v)) {
    if (!allowed.has(k)) throw new EnvelopeError("UNKNOWN_FIELD", `unknown key "${k}" for ${t}`, k);
  }
  for (const k of [...COMMON, ...spec.required]) {
    if (!Object.hasOwn(v, k) || v[k] === undefined) {
      throw new EnvelopeError("MISSING_FIELD", `missing "${k}" for ${t}`, k);
    }
  }
  const id = bytes(v.id, "id", ID_BYTES);
  const sent_at = u64(v.sent_at, "sent_at");
  switch (t as KnownType) {
    case "text":
      return { t: "text", id, sent_at, body: text(v.body, "body", MAX_BODY_BYTES) };
    case "edit":
    case "reply":
      return {
        t: t as "edit" | "reply",
        id,
        sent_at,
        target: u64(v.target, "target"),
        body: text(v.body, "body", MAX_BODY_BYTES),
      };
    case "reaction":
      return {
        t: "reaction",
        id,
        sent_at,
        target: u64(v.target, "target"),
        emoji: text(v.emoji, "emoji", MAX_EMOJI_BYTES, true),
      };
    case "attachment": {
      const size = blobSize(v.size, "size");
      const mime = mediaType(v.mime, "mime");
      const out: {
        t: "attachment";
        id: Uint8Array;
        sent_at: bigint;
        hash: Uint8Array;
        size: number;
        mime: string;
        name?: string;
        key?: Uint8Array;
        thumb?: AttachmentThumb;
      } = { t: "attachment", id, sent_at, hash: bytes(v.hash, "hash", HASH_BYTES), size, mime };
      if (v.name !== undefined) out.name = text(v.name, "name", MAX_NAME_BYTES);
      if (v.key !== undefined) out.key = bytes(v.key, "key", CONTENT_KEY_BYTES);
      if (v.thumb !== undefined) out.thumb = thumb(v.thumb);
      return out;
    }
  }
}
