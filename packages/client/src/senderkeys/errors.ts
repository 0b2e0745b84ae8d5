/**
 * Typed failures of the sender-key bridge. `code` is stable; callers switch on it.
 */
export const SenderKeyErrorCode = {
  /** The generation was already opened (its key erased) or fell out of the window. */
  REPLAY: "REPLAY",
  /** The generation is further ahead than the configured window allows. */
  TOO_FAR_AHEAD: "TOO_FAR_AHEAD",
  /** Authentication failed: forged, truncated or bound to another room/epoch/sender. */
  DECRYPT_FAILED: "DECRYPT_FAILED",
  /** The message names another epoch, or this epoch's keys were destroyed. */
  WRONG_EPOCH: "WRONG_EPOCH",
  /** The sender leaf is not a member of this epoch. */
  UNKNOWN_SENDER: "UNKNOWN_SENDER",
  /** The own chain reached generation 2^32 - 1; the client must commit a new epoch. */
  EXHAUSTED: "EXHAUSTED",
  /** `EpochSenderKeys.fromState` was given malformed bytes. */
  BAD_STATE: "BAD_STATE",
} as const;
export type SenderKeyErrorCode = (typeof SenderKeyErrorCode)[keyof typeof SenderKeyErrorCode];

export class SenderKeyError extends Error {
  override readonly name = "SenderKeyError";
  constructor(
    readonly code: SenderKeyErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}
