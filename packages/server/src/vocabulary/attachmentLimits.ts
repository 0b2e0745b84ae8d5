/**
 * The `[attachments]` limits (docs/configuration.md, docs/protocol.md "Attachments"): what
 * one blob, one user and one room may hold, and how long unreferenced blobs and idle
 * uploads are kept.
 */
export interface AttachmentLimits {
  /** Largest blob in bytes (BLOB_TOO_LARGE above). */
  maxBlobBytes: number;
  /** Bytes one user may hold in blobs and uploads in progress (QUOTA_EXCEEDED above). */
  userQuotaBytes: number;
  /** Bytes one room may hold. */
  roomQuotaBytes: number;
  /** A complete blob no message referenced within this long is collected. */
  unreferencedGraceMs: number;
  /** An upload with no chunk for this long is discarded. */
  uploadExpiryMs: number;
}

export const DEFAULT_ATTACHMENT_LIMITS: AttachmentLimits = {
  maxBlobBytes: 100 * 1024 * 1024,
  userQuotaBytes: 1024 * 1024 * 1024,
  roomQuotaBytes: 10 * 1024 * 1024 * 1024,
  unreferencedGraceMs: 24 * 3600 * 1000,
  uploadExpiryMs: 24 * 3600 * 1000,
};
