/**
 * Fetching one blob (docs/protocol.md "Attachments"): BLOB_FETCH {blob_id, offset} is
 * answered by BLOB_DATA {size, offset, data}, one chunk of at most BLOB_CHUNK_SIZE; the
 * first answer gives the size, the other chunks are asked a window at a time. The hub is
 * not trusted with the bytes: a size other than the one the message announced, a chunk of
 * the wrong offset or length, or a blob whose BLAKE3-256 is not its id is refused (and the
 * sealed blob's authentication tag would refuse a forgery again when it is opened).
 *
 * A fetch keeps nothing at the hub, so resuming is simply asking again: requests are resent
 * across reconnects, and a request the tracker gave up on during a long outage is asked
 * again up to MAX_ROUNDS times, keeping the chunks already received.
 */
import { BLOB_CHUNK_SIZE, bytesEqual, chunkLength, Opcode } from "@kalandra/proto";
import { contentHash } from "../envelope/attachment.js";
import { ClientError } from "../state/errors.js";
import { ask, type BlobTarget, DEFAULT_WINDOW, inRounds, windowed } from "./transfer.js";

interface Chunk {
  size: number;
  offset: number;
  data: Uint8Array;
}

function chunkOf(p: Record<string, unknown>, offset: number, size: number): Chunk {
  const { size: s, offset: o, data } = p;
  if (s !== size || o !== offset || !(data instanceof Uint8Array)) {
    throw new ClientError(
      "bad_blob",
      `BLOB_DATA at ${String(o)} of ${String(s)} bytes, not ${offset} of ${size}`,
    );
  }
  if (data.length !== chunkLength(size, offset))
    throw new ClientError("bad_blob", `BLOB_DATA at ${offset} has ${data.length} bytes`);
  return { size, offset, data };
}

/**
 * Fetches the blob `hash` of exactly `size` bytes (the sealed size: content + 16) and
 * checks it against its hash; resolves with bytes the caller owns.
 */
export async function fetchBlob(
  t: BlobTarget,
  hash: Uint8Array,
  size: number,
  progress: (loaded: number) => void,
  window = DEFAULT_WINDOW,
): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  const have = new Set<number>();
  let loaded = 0;
  const get = async (offset: number) =>
    chunkOf(
      await ask(t.hub, Opcode.BLOB_FETCH, t.roomId, t.epoch, { blob_id: hash, offset }),
      offset,
      size,
    );
  const keep = (c: Chunk) => {
    if (have.has(c.offset)) return;
    out.set(c.data, c.offset);
    have.add(c.offset);
    loaded += c.data.length;
    progress(loaded);
  };
  await inRounds(async () => {
    // The first chunk alone first: a refusal (not a member, erased) costs one request.
    if (!have.has(0)) keep(await get(0));
    const missing: number[] = [];
    for (let o = BLOB_CHUNK_SIZE; o < size; o += BLOB_CHUNK_SIZE) if (!have.has(o)) missing.push(o);
    await windowed(missing, window, get, (_o, c) => keep(c));
    return true;
  });
  if (!bytesEqual(contentHash(out), hash))
    throw new ClientError("attachment_hash_mismatch", "the fetched blob does not match its hash");
  return out;
}
