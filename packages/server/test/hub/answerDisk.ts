/**
 * A MemoryStorage whose moderation-answer writes (hub/moderationAnswers.ts) can fail (a full
 * disk) or wait (an fsync still running), for the tests that must see what the hub gives
 * out before an answer is durable, and when it cannot be made durable at all.
 */
import { StorageError } from "../../src/storage/errors.js";
import { MemoryStorage } from "../../src/storage/memoryStorage.js";

export class AnswerDisk extends MemoryStorage {
  /** Writes fail with StorageError IO while set. */
  full = false;
  /** Writes wait for `flush` while set. */
  slow = false;
  #waiting: (() => void)[] = [];

  override async putModerationAnswer(
    senderId: bigint,
    requestId: number,
    answer: Uint8Array,
    maxAnswers: number,
  ): Promise<number> {
    if (this.full) throw new StorageError("IO", "disk full");
    if (this.slow) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    return super.putModerationAnswer(senderId, requestId, answer, maxAnswers);
  }

  /** Completes the writes waiting so far. */
  flush(): void {
    for (const w of this.#waiting.splice(0)) w();
  }
}
