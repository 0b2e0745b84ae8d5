/**
 * How many bytes a SYNC_PAGE payload takes around its entries (issue 12: a page capped at
 * 256 entries but not in bytes made a 200-byte SYNC_REQUEST produce a 63 MB answer, and one
 * 16 MiB APP_MESSAGE made even a one-entry page exceed the frame limit, so nobody could
 * sync past it). Two rules follow from these bounds (docs/protocol.md "SYNC_PAGE size"):
 * the hub stops a page at a byte budget, and it sequences no payload larger than
 * {@link maxSequencedPayload}, so a page holding just that entry still fits a frame.
 *
 * The bounds are CBOR upper bounds (RFC 8949 §3: a head of at most 9 bytes for any length
 * or integer), checked against the real encoder in test/syncPageSize.test.ts.
 */
import { HEADER_SIZE } from "./constants.js";

/**
 * The page's own bytes: a map of 3 (1), "entries" (8) with an array head (≤ 9), "next"
 * (5) and "head" (5) with a u64 each (≤ 9 + 9).
 */
export const SYNC_PAGE_OVERHEAD = 1 + 8 + 9 + 5 + 9 + 5 + 9;

/**
 * One entry's bytes besides its payload: a map of 2 (1), "header" (7) with the 128-byte
 * header as a byte string (2 + 128), "payload" (8) with the byte-string head (≤ 9).
 */
export const SYNC_ENTRY_OVERHEAD = 1 + 7 + 2 + HEADER_SIZE + 8 + 9;

/** Upper bound on the bytes one entry with `payloadLength` payload bytes adds to a page. */
export function syncEntrySize(payloadLength: number): number {
  return SYNC_ENTRY_OVERHEAD + payloadLength;
}

/**
 * The largest payload the hub sequences when frames may carry `maxPayload` bytes: a
 * SYNC_PAGE holding only that entry is then at most `maxPayload` bytes.
 */
export function maxSequencedPayload(maxPayload: number): number {
  return maxPayload - SYNC_PAGE_OVERHEAD - SYNC_ENTRY_OVERHEAD;
}
