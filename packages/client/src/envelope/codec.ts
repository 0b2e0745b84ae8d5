/**
 * Envelope ⇄ padded plaintext (docs/client.md "Envelope"). The plaintext sealed by the
 * sender-key bridge is `pad(cbor(envelope))`. One failure channel: `EnvelopeError`.
 */
import { cborDecode, cborEncode } from "./cbor.js";
import { EnvelopeError } from "./errors.js";
import { pad, unpad } from "./padding.js";
import type { MessageEnvelope } from "./types.js";
import { validateEnvelope } from "./validate.js";

/** u64 values are written as the shortest CBOR integer (cbor-x writes bigints as 8 bytes). */
const compact = (n: bigint): number | bigint =>
  n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;

/** Validates `env` and encodes it into a padded plaintext ready to seal. */
export function encodeEnvelope(env: MessageEnvelope): Uint8Array {
  const v = validateEnvelope(env);
  const map: Record<string, unknown> = { t: v.t, id: v.id, sent_at: compact(v.sent_at) };
  switch (v.t) {
    case "text":
      map.body = v.body;
      break;
    case "edit":
    case "reply":
      map.target = compact(v.target);
      map.body = v.body;
      break;
    case "reaction":
      map.target = compact(v.target);
      map.emoji = v.emoji;
      break;
    case "attachment":
      map.hash = v.hash;
      map.size = v.size;
      map.mime = v.mime;
      if (v.name !== undefined) map.name = v.name;
      if (v.key !== undefined) map.key = v.key;
      if (v.thumb !== undefined) {
        const { hash, size, mime, key } = v.thumb;
        map.thumb = { hash, size, mime, key };
      }
      break;
  }
  return pad(cborEncode(map));
}

/** Decodes an opened plaintext; any malformed input is an `EnvelopeError`. */
export function decodeEnvelope(plaintext: Uint8Array): MessageEnvelope {
  if (!(plaintext instanceof Uint8Array)) {
    throw new EnvelopeError("MALFORMED_CBOR", "plaintext is not bytes");
  }
  const content = unpad(plaintext);
  let value: unknown;
  try {
    value = cborDecode(content);
  } catch (e) {
    throw new EnvelopeError("MALFORMED_CBOR", e instanceof Error ? e.message : String(e));
  }
  return validateEnvelope(value);
}
