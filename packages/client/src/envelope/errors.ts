/** Typed failures of envelope encoding and decoding; `code` is stable. */
export const EnvelopeErrorCode = {
  /** The padded plaintext or a field exceeds its limit. */
  TOO_LARGE: "TOO_LARGE",
  /** The padding is missing, malformed or not the bucket the content belongs to. */
  BAD_PADDING: "BAD_PADDING",
  /** The content is not one well-formed CBOR item. */
  MALFORMED_CBOR: "MALFORMED_CBOR",
  /** The CBOR item is not a map with text keys. */
  NOT_A_MAP: "NOT_A_MAP",
  /** `t` names no known envelope type. */
  UNKNOWN_TYPE: "UNKNOWN_TYPE",
  /** A key not defined for this type is present. */
  UNKNOWN_FIELD: "UNKNOWN_FIELD",
  /** A required key is absent. */
  MISSING_FIELD: "MISSING_FIELD",
  /** A field has the wrong type, size or range. */
  INVALID_FIELD: "INVALID_FIELD",
  /** An attachment blob does not hash to the envelope's `hash`. */
  ATTACHMENT_HASH_MISMATCH: "ATTACHMENT_HASH_MISMATCH",
  /** An attachment blob does not open with the envelope's `key`. */
  ATTACHMENT_DECRYPT_FAILED: "ATTACHMENT_DECRYPT_FAILED",
} as const;
export type EnvelopeErrorCode = (typeof EnvelopeErrorCode)[keyof typeof EnvelopeErrorCode];

export class EnvelopeError extends Error {
  override readonly name = "EnvelopeError";
  constructor(
    readonly code: EnvelopeErrorCode,
    message: string,
    /** The offending field, when there is one. */
    readonly field?: string,
  ) {
    super(`${code}: ${message}`);
  }
}
