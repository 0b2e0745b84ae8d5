/**
 * Accepted answers to in-band moderation requests (types.ts `ModerationAnswerStorage`,
 * hub/moderationAnswers.ts): at most `maxAnswers` rows, the oldest dropped first.
 *
 * Tables (inside the caller's write transaction):
 *   mod_answers     sender_id (8) ‖ request_id (4) → seq (8) ‖ answer frame
 *   mod_answer_age  seq (8)                        → sender_id (8) ‖ request_id (4)
 *
 * A new answer takes the seq after the last one in `mod_answer_age` (0 when it is empty),
 * and rows are only ever dropped oldest first, so the rows held are the seqs just below the
 * next one: a row whose seq is below `next - maxAnswers` is dropped, whatever bound an
 * earlier start used.
 */
import { concatBytes } from "@kalandra/proto";
import { copyBytes, readU64Key, u64Key } from "../keys.js";
import type { Tables } from "./layout.js";

/** The answer stored under `key` (sender_id ‖ request_id), if any. */
export function getModerationAnswer(t: Tables, key: Uint8Array): Uint8Array | undefined {
  const v = t.mod_answers.get(key);
  return v === undefined ? undefined : copyBytes(v.subarray(8));
}

/**
 * Stores `answer` under `key` unless a row is there already, then drops the rows beyond
 * `maxAnswers`, oldest first; how many it dropped. Reads everything before its first write
 * (keyPackages.ts `putPackages`: lmdb-js commits what a throwing callback already wrote).
 */
export function putModerationAnswer(
  t: Tables,
  key: Uint8Array,
  answer: Uint8Array,
  maxAnswers: number,
): number {
  if (t.mod_answers.get(key) !== undefined) return 0;
  let seq = 0n;
  for (const last of t.mod_answer_age.getKeys({ reverse: true, limit: 1 })) {
    seq = readU64Key(last) + 1n;
  }
  const keep = seq + 1n - BigInt(maxAnswers); // the oldest seq that stays
  const drop: { age: Uint8Array; answer: Uint8Array }[] = [];
  if (keep > 0n) {
    for (const { key: age, value } of t.mod_answer_age.getRange({ end: u64Key(keep) })) {
      drop.push({ age: copyBytes(age), answer: copyBytes(value) });
    }
  }
  const seqKey = u64Key(seq);
  t.mod_answers.putSync(key, concatBytes(seqKey, answer));
  t.mod_answer_age.putSync(seqKey, key);
  for (const d of drop) {
    t.mod_answer_age.removeSync(d.age);
    t.mod_answers.removeSync(d.answer);
  }
  return drop.length;
}
