/**
 * Storage failures (DESIGN §5). One error class with stable codes, so callers branch on
 * `code` and never on message text. Expected outcomes (a frame that was already erased,
 * no key package left) are return values, not errors.
 */
export const StorageErrorCode = {
  /** The storage was closed; no further calls are accepted. */
  CLOSED: "CLOSED",
  /** Stored bytes do not decode or do not authenticate (a sealed payload, a record). */
  CORRUPT: "CORRUPT",
  /** A file operation failed (open, write, fsync, commit). */
  IO: "IO",
  /** An append would leave a hole in a room's log (log_index is not the next one). */
  GAP: "GAP",
  /** An argument is malformed (a header that is not 128 bytes, a negative index). */
  INVALID: "INVALID",
  /** The data directory is already open in this process. */
  LOCKED: "LOCKED",
} as const;

export type StorageErrorCode = (typeof StorageErrorCode)[keyof typeof StorageErrorCode];

export class StorageError extends Error {
  override readonly name = "StorageError";
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Wraps any failure of a file or LMDB operation as `StorageError(IO)`, keeping ours as they are. */
export function asStorageError(err: unknown, what: string): StorageError {
  if (err instanceof StorageError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new StorageError(StorageErrorCode.IO, `${what}: ${detail}`, { cause: err });
}
