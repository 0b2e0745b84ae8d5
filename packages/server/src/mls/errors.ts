import type { ProtocolErrorCode } from "@kalandra/proto";

/**
 * Failures of the hub's public view of an MLS group. Codes match the ErrorCode names of
 * @kalandra/proto so the sequencer can put them in an ERROR frame unchanged.
 */
export type MlsViewErrorCode = Extract<
  ProtocolErrorCode,
  | "STALE_EPOCH"
  | "WRONG_EPOCH"
  | "NOT_MEMBER"
  | "MISSING_PROPOSALS"
  | "INVALID_COMMIT"
  | "INVALID_PROPOSAL"
  | "INVALID_GROUP_INFO"
>;

/** Thrown only by constructors (`fromGroupInfo`, `decode`); checks return result unions. */
export class MlsViewError extends Error {
  override readonly name = "MlsViewError";
  constructor(
    readonly code: MlsViewErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A rejected check: a stable code, a human-readable reason, and the room's epoch on epoch errors. */
export interface CheckFailure {
  ok: false;
  code: MlsViewErrorCode;
  message: string;
  /** Set for STALE_EPOCH / WRONG_EPOCH: the epoch the hub is at. */
  expected?: bigint;
}

/** Internal: thrown inside a check and turned into a CheckFailure at the public boundary. */
export class Reject extends Error {
  constructor(
    readonly code: MlsViewErrorCode,
    message: string,
    readonly expected?: bigint,
  ) {
    super(message);
  }
}

export function reject(code: MlsViewErrorCode, message: string, expected?: bigint): never {
  throw new Reject(code, message, expected);
}

/** Runs a check; a Reject becomes its failure, anything else (a codec throw) becomes `fallback`. */
export function guard<T>(fallback: MlsViewErrorCode, fn: () => T): T | CheckFailure {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Reject) {
      const f: CheckFailure = { ok: false, code: e.code, message: e.message };
      if (e.expected !== undefined) f.expected = e.expected;
      return f;
    }
    return {
      ok: false,
      code: fallback,
      message: `malformed input: ${(e as Error)?.message ?? String(e)}`,
    };
  }
}
