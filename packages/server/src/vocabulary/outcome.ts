/**
 * How the server cores answer what they do not fail on (CONVENTIONS 4: result unions for
 * outcomes a caller must handle, exceptions for failures): accepted, with the log_index
 * the request got, or refused with a stable protocol error code (docs/protocol.md).
 * Shared by the sequencer, the shards, the hub core, moderation and the key-package
 * directory, so none of them imports another for it.
 */
import type { ProtocolErrorCode } from "@kalandra/proto";

/** An expected refusal of a request (result union member, not an exception). */
export interface Refusal {
  code: ProtocolErrorCode;
  message: string;
  expectedEpoch?: bigint;
  /** TRANSFERRING, PEER_UNREACHABLE (federation): when a retry may succeed, ms. */
  retryAfterMs?: bigint;
  /** STALE_TERM, NOT_AUTHORITY (federation): the room's term as the refusing hub knows it. */
  term?: bigint;
}

export const refuse = (
  code: ProtocolErrorCode,
  message: string,
  expectedEpoch?: bigint,
): Refusal => (expectedEpoch === undefined ? { code, message } : { code, message, expectedEpoch });

/** What a kick proposed (moderation/removal.ts), carried back through the shard boundary. */
export interface KickedLeaves {
  leaves: number[];
  logIndexes: bigint[];
  alreadyPending: number[];
}

export type Outcome =
  | { ok: true; logIndex?: bigint; kick?: KickedLeaves }
  | { ok: false; refusal: Refusal };
