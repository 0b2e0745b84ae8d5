/**
 * Failures of `kalandrad backup` and `kalandrad restore` (docs/storage.md "Backups and
 * erasure"): one error class with a stable code, so the CLI can name the problem and
 * tests can tell refusals apart.
 */
export type BackupErrorCode =
  /** The target (backup directory or data directory to restore into) is not empty. */
  | "NOT_EMPTY"
  /** The data directory or backup to read is missing a file it must have. */
  | "MISSING"
  /** A file's size or SHA-256 differs from the manifest, or a copy does not check out. */
  | "CORRUPT"
  /** The backup key file is missing, malformed, in the wrong place or not the one used. */
  | "KEY"
  /** The backup was written by a newer kalandrad (data format) or another hub. */
  | "INCOMPATIBLE";

export class BackupError extends Error {
  override readonly name = "BackupError";
  constructor(
    readonly code: BackupErrorCode,
    message: string,
  ) {
    super(message);
  }
}
