/**
 * `encodePayload` / `decodePayload`: CBOR plus the strict per-opcode schema. Every failure
 * is a ProtocolError (UNKNOWN_OPCODE or BAD_PAYLOAD), whatever the input.
 *
 * Ownership: decoded byte fields are plain Uint8Array views into `bytes` (no copy); copy
 * them if you keep them after the input buffer may be reused. Encoded payloads are fresh.
 */
import { cborDecode, cborEncode } from "../cbor.js";
import { checkStrictCbor } from "../cborCheck.js";
import { ErrorCode, ProtocolError, type ProtocolErrorCode } from "../errors.js";
import { Opcode, opcodeName } from "../opcodes.js";
import { isOpcode } from "../opcodeTraits.js";
import type { Codec } from "./schema.js";
import { type ErrorPayload, PAYLOAD_SCHEMAS, type PayloadOf } from "./schemas.js";

function schemaOf(opcode: number): { codec: Codec<unknown>; name: string } {
  if (typeof opcode !== "number" || !isOpcode(opcode)) {
    throw new ProtocolError("UNKNOWN_OPCODE", `no payload schema for opcode ${String(opcode)}`);
  }
  return { codec: PAYLOAD_SCHEMAS[opcode] as Codec<unknown>, name: opcodeName(opcode)! };
}

/**
 * Encode a payload for `opcode` after checking it against the opcode's schema.
 *
 * @example
 * const payload = encodePayload(Opcode.APP_MESSAGE, { generation: 3, ciphertext });
 */
export function encodePayload<Op extends Opcode>(opcode: Op, value: PayloadOf<Op>): Uint8Array {
  const { codec, name } = schemaOf(opcode);
  return cborEncode(codec.toCbor(value, name));
}

/**
 * Decode and validate a payload: a CBOR map with exactly the schema's fields. Throws
 * ProtocolError BAD_PAYLOAD for malformed CBOR, trailing bytes, or a missing, extra or
 * wrongly typed field.
 *
 * @example
 * const { commit, group_info, welcome } = decodePayload(Opcode.COMMIT, frame.payload);
 */
export function decodePayload<Op extends Opcode>(opcode: Op, bytes: Uint8Array): PayloadOf<Op> {
  const { codec, name } = schemaOf(opcode);
  if (!(bytes instanceof Uint8Array)) throw new TypeError('"bytes" expected Uint8Array');
  checkStrictCbor(bytes);
  let raw: unknown;
  try {
    raw = cborDecode(bytes);
  } catch (e) {
    throw new ProtocolError("BAD_PAYLOAD", `${name}: malformed CBOR (${(e as Error)?.message})`, {
      cause: e,
    });
  }
  return codec.fromCbor(raw, name) as PayloadOf<Op>;
}

/**
 * The ERROR payload for a code: `{code: numeric, name, message, expected_epoch?}`. The
 * server puts it in a RESPONSE|ERROR frame it signs itself.
 */
export function encodeErrorPayload(
  code: ProtocolErrorCode,
  message: string,
  extra?: { expected_epoch?: bigint; retry_after_ms?: bigint; term?: bigint },
): Uint8Array {
  if (!Object.hasOwn(ErrorCode, code)) throw new TypeError(`unknown error code ${String(code)}`);
  const value: ErrorPayload = { code: ErrorCode[code], name: code, message };
  if (extra?.expected_epoch !== undefined) value.expected_epoch = extra.expected_epoch;
  if (extra?.retry_after_ms !== undefined) value.retry_after_ms = extra.retry_after_ms;
  if (extra?.term !== undefined) value.term = extra.term;
  return encodePayload(Opcode.ERROR, value);
}

/** Decode an ERROR payload (same as `decodePayload(Opcode.ERROR, bytes)`). */
export function decodeErrorPayload(bytes: Uint8Array): ErrorPayload {
  return decodePayload(Opcode.ERROR, bytes);
}

/** A ProtocolError carrying the code and message of a received ERROR payload. */
export function errorFromPayload(payload: ErrorPayload): ProtocolError {
  const known = Object.hasOwn(ErrorCode, payload.name)
    ? (payload.name as ProtocolErrorCode)
    : "INTERNAL";
  return new ProtocolError(known, payload.message);
}
