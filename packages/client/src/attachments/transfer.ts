/**
 * What uploads and fetches share: progress reports, the window of chunk requests in flight,
 * and reading the hub's answers (docs/client.md "Attachments").
 */

import { ClientError, expectAck, HubError } from "../state/errors.js";
import type { HubRequests } from "../state/hubLink.js";
import { RequestTimeoutError } from "../state/requests.js";
import { payloadOf } from "../state/wire.js";

/** Bytes of the sealed blob moved so far, of `total` (what a progress bar shows). */
export interface TransferProgress {
  readonly loaded: number;
  readonly total: number;
}

export interface TransferOptions {
  /** Called as chunks are acknowledged (upload) or arrive (fetch); `loaded` never falls. */
  onProgress?(p: TransferProgress): void;
  /** Chunk requests in flight at once (default 4; 1 is stop-and-wait). */
  window?: number;
}

export const DEFAULT_WINDOW = 4;

/** Where a transfer goes: the hub link and the room the blob belongs to. */
export interface BlobTarget {
  hub: HubRequests;
  roomId: bigint;
  /** The room's epoch as this device knows it (the hub does not check it). */
  epoch: bigint;
}

/**
 * Rounds a transfer may start again from the hub's state after a chunk was refused in a
 * way a restart explains (a lost upload session, a chunk answered after the hub lost its
 * copy) or after the request tracker gave up during a long outage.
 */
export const MAX_ROUNDS = 8;

/** Hub refusals after which asking the hub where the transfer stands is the fix. */
const RESUMABLE = new Set(["CHUNK_OUT_OF_ORDER", "UPLOAD_EXPIRED"]);

function resumable(e: unknown): boolean {
  return (e instanceof HubError && RESUMABLE.has(e.hubName)) || e instanceof RequestTimeoutError;
}

/**
 * Runs `attempt` until it reports the transfer done; a refusal a restart explains (or a
 * request the tracker gave up on) starts another round, at most MAX_ROUNDS in all.
 */
export async function inRounds(attempt: () => Promise<boolean>): Promise<void> {
  for (let round = 1; ; round++) {
    try {
      if (await attempt()) return;
    } catch (e) {
      if (!resumable(e) || round >= MAX_ROUNDS) throw e;
      continue;
    }
    if (round >= MAX_ROUNDS)
      throw new ClientError("retries_exhausted", "the transfer did not complete");
  }
}

/** Sends a request and returns its decoded answer; a hub refusal throws `HubError`. */
export async function ask(
  hub: HubRequests,
  opcode: number,
  roomId: bigint,
  epoch: bigint,
  payload: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  return payloadOf(expectAck(await hub.request(opcode, roomId, epoch, payload)));
}

/**
 * Reports progress over one or more blobs (a thumbnail, then the file): never backwards,
 * never the same figure twice.
 */
export class ProgressReporter {
  #last = -1;
  constructor(
    private readonly total: number,
    private readonly cb: ((p: TransferProgress) => void) | undefined,
  ) {}

  /** The report function of the blob of `size` bytes that starts at `base` of the total. */
  part(base: number, size: number): (loaded: number) => void {
    return (loaded) => {
      const at = base + Math.min(loaded, size);
      if (at <= this.#last) return;
      this.#last = at;
      this.cb?.({ loaded: at, total: this.total });
    };
  }
}

/**
 * Runs `step(item)` for each item with at most `window` in flight, handing each result to
 * `done` in item order. The first failure stops new steps, waits for those in flight (so
 * no rejection goes unobserved) and is thrown.
 */
export async function windowed<I, R>(
  items: readonly I[],
  window: number,
  step: (item: I) => Promise<R>,
  done: (item: I, result: R) => void,
): Promise<void> {
  const inflight: { item: I; p: Promise<R> }[] = [];
  let next = 0;
  const fill = () => {
    while (inflight.length < Math.max(1, window) && next < items.length) {
      const item = items[next++] as I;
      const p = step(item);
      p.catch(() => undefined);
      inflight.push({ item, p });
    }
  };
  fill();
  try {
    while (inflight.length > 0) {
      const head = inflight.shift() as { item: I; p: Promise<R> };
      done(head.item, await head.p);
      fill();
    }
  } catch (e) {
    await Promise.allSettled(inflight.map((f) => f.p));
    throw e;
  }
}
