/**
 * The bounds of the stored moderation answers (types.ts `ModerationAnswerStorage`), checked
 * the same way by every storage before it writes anything.
 */
import { StorageError } from "./errors.js";
import { requestKey } from "./keys.js";

/**
 * Most bytes of one stored answer. The answers are the hub's ACK frames (the 128-byte
 * header and an empty CBOR map, 129 bytes); the bound keeps a bug elsewhere from turning
 * the table into unbounded storage.
 */
export const MODERATION_ANSWER_MAX_BYTES = 512;

/**
 * The answer's key, sender_id (8) ‖ request_id (4) as in `requests`; throws StorageError
 * INVALID unless the ids, the answer and the bound can be stored.
 */
export function moderationAnswerKey(
  senderId: bigint,
  requestId: number,
  answer: Uint8Array,
  maxAnswers: number,
): Uint8Array {
  const key = requestKey(senderId, requestId);
  if (!(answer instanceof Uint8Array) || answer.length > MODERATION_ANSWER_MAX_BYTES) {
    throw new StorageError(
      "INVALID",
      `"answer" expected at most ${MODERATION_ANSWER_MAX_BYTES} bytes, got ${answer?.length}`,
    );
  }
  if (!Number.isInteger(maxAnswers) || maxAnswers < 1) {
    throw new StorageError("INVALID", `"maxAnswers" expected an integer >= 1, got ${maxAnswers}`);
  }
  return key;
}
