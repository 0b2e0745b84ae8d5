/**
 * The two rules of a room's replicated log (DESIGN §11), as pure functions:
 *
 * - The position check (replica side): entries are taken only right after an entry the
 *   replica holds in the same term as the authority's (`prevLength`, `prevTerm`), each at
 *   its own index and signed for that position by its authority. Entries already held in
 *   the same term are kept; from the first that differs on, the replica's tail gives way.
 * - The commit rule (authority side): under `ack_quorum = "majority"` a length is
 *   committed when a majority of voters hold it durably and its last entry is of the
 *   authority's own term (an earlier term's entries commit under it, never by counting).
 */
import { canary } from "@kalandra/proto";
import { type LogEntry, verifyEntry } from "./messages.js";
import type { HubKeys } from "./statement.js";

export interface LogView {
  length(): bigint;
  entry(index: bigint): LogEntry | undefined;
}

export function termAt(log: LogView, length: bigint): bigint {
  return length === 0n ? 0n : (log.entry(length - 1n)?.term ?? -1n);
}

export type AppendPlan =
  /** The replica does not hold the entry before these: the authority resends from `length`. */
  | { kind: "mismatch"; length: bigint }
  /** An entry out of place or not signed for its position: the message is dropped. */
  | { kind: "invalid" }
  /** Write `fresh` from index `write` on (dropping what the log holds there); `matched`
   * is the length the replica then shares with the authority. */
  | { kind: "append"; write: bigint; fresh: LogEntry[]; matched: bigint };

export function planAppend(
  log: LogView,
  roomId: bigint,
  keys: HubKeys,
  m: { prevLength: bigint; prevTerm: bigint; entries: readonly LogEntry[] },
): AppendPlan {
  const skip = canary("replica_skips_position_check");
  const at = skip ? log.length() : m.prevLength;
  if (!skip && (m.prevLength > log.length() || termAt(log, m.prevLength) !== m.prevTerm)) {
    const back = m.prevLength > log.length() ? log.length() : m.prevLength - 1n;
    return { kind: "mismatch", length: back < 0n ? 0n : back };
  }
  let write = at;
  const fresh: LogEntry[] = [];
  for (const [i, e] of m.entries.entries()) {
    const index = at + BigInt(i);
    if (!skip && (e.index !== index || !verifyEntry(roomId, e, keys))) return { kind: "invalid" };
    const have = log.entry(index);
    if (!skip && fresh.length === 0 && have !== undefined && have.term === e.term) {
      write = index + 1n; // already held
      continue;
    }
    fresh.push(e);
  }
  return { kind: "append", write, fresh, matched: at + BigInt(m.entries.length) };
}

/**
 * The committed length under a majority quorum: the length a majority of voters hold
 * (`matches`, the authority's own durable length among them), if its last entry is of
 * `term`; undefined when nothing new can be committed by counting.
 */
export function majorityCommit(
  log: LogView,
  matches: readonly bigint[],
  term: bigint,
): bigint | undefined {
  const sorted = [...matches].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
  const candidate = sorted[Math.floor(sorted.length / 2)] ?? 0n;
  return termAt(log, candidate) === term ? candidate : undefined;
}
