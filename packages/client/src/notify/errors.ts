/** Typed failures of the notification decryptor; `code` is stable. */
export const NotifyErrorCode = {
  /** The key blob is truncated, has trailing bytes, a bad magic/version or bad entries. */
  MALFORMED_BLOB: "MALFORMED_BLOB",
  /** The blob holds no keys for this room and epoch. */
  UNKNOWN_EPOCH: "UNKNOWN_EPOCH",
  /** The blob holds no chain for this sender leaf. */
  UNKNOWN_SENDER: "UNKNOWN_SENDER",
  /** The generation precedes the exported chain position (opened before the export). */
  KEY_UNAVAILABLE: "KEY_UNAVAILABLE",
  /** The generation is further ahead of the exported position than allowed. */
  TOO_FAR_AHEAD: "TOO_FAR_AHEAD",
  /** Authentication failed: forged, truncated or misaddressed ciphertext. */
  DECRYPT_FAILED: "DECRYPT_FAILED",
  /** The plaintext is not a valid envelope (see EnvelopeError codes in `cause`). */
  BAD_ENVELOPE: "BAD_ENVELOPE",
  /** The request itself is malformed (types, ranges). */
  BAD_REQUEST: "BAD_REQUEST",
} as const;
export type NotifyErrorCode = (typeof NotifyErrorCode)[keyof typeof NotifyErrorCode];

export class NotifyError extends Error {
  override readonly name = "NotifyError";
  constructor(
    readonly code: NotifyErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${message}`, options);
  }
}
