/**
 * Fixed sizes and offsets of the frame header (DESIGN §3). Every integer is big-endian.
 * The offsets are the wire contract: docs/protocol.md carries the same table.
 */

/** Size of the fixed frame header in bytes. */
export const HEADER_SIZE = 128;
/** "SUND" in ASCII; any other value at offset 0 is rejected. */
export const MAGIC = 0x53554e44;
/** The only protocol version this package speaks. */
export const VERSION = 1;
/** Default upper bound on `payload_size` (16 MiB); deployments may configure less. */
export const DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024;

/** Byte offset of each header field. */
export const Offset = {
  MAGIC: 0,
  VERSION: 4,
  FLAGS: 5,
  OPCODE: 6,
  REQUEST_ID: 8,
  ROOM_ID: 12,
  SENDER_ID: 28,
  LOG_INDEX: 36,
  HLC_TIMESTAMP: 44,
  EPOCH: 52,
  PAYLOAD_SIZE: 60,
  SIGNATURE: 64,
} as const;

/** Size of the Ed25519 signature at the end of the header. */
export const SIGNATURE_SIZE = 64;
/** The signed part of the header: bytes 0..64 (everything before the signature). */
export const SIGNED_HEADER_SIZE = Offset.SIGNATURE;

export const U64_MAX = (1n << 64n) - 1n;
export const U128_MAX = (1n << 128n) - 1n;
export const U32_MAX = 0xffff_ffff;
