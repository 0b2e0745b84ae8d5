/**
 * The moderation answers of `MemoryStorage` (types.ts `ModerationAnswerStorage`), with the
 * LMDB implementation's semantics (lmdb/moderationAnswers.ts) minus durability.
 */

import { requestKey } from "./keys.js";
import { moderationAnswerKey } from "./moderationAnswerBounds.js";
import type { ModerationAnswerStorage } from "./types.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

export class MemoryModerationAnswers implements ModerationAnswerStorage {
  /** Answers by key, oldest first (a Map keeps insertion order). */
  private readonly answers = new Map<string, Uint8Array>();

  /** `live` throws once the storage is closed. */
  constructor(private readonly live: () => void) {}

  getModerationAnswer(senderId: bigint, requestId: number): Uint8Array | undefined {
    this.live();
    const a = this.answers.get(hex(requestKey(senderId, requestId)));
    return a === undefined ? undefined : a.slice();
  }

  async putModerationAnswer(
    senderId: bigint,
    requestId: number,
    answer: Uint8Array,
    maxAnswers: number,
  ): Promise<number> {
    this.live();
    const key = hex(moderationAnswerKey(senderId, requestId, answer, maxAnswers));
    if (this.answers.has(key)) return 0;
    this.answers.set(key, answer.slice());
    let dropped = 0;
    for (const oldest of this.answers.keys()) {
      if (this.answers.size <= maxAnswers) break;
      this.answers.delete(oldest);
      dropped++;
    }
    return dropped;
  }
}
