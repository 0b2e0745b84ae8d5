import { seededBytes } from "@kalandra/test-support";
import { EpochSenderKeys, SenderKeyError, type WindowOptions } from "../../src/senderkeys/index.js";

export const ROOM = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210n;
export const EPOCH = 7n;

/** Members `0..n-1` of one epoch, each holding its own EpochSenderKeys. */
export function members(
  n: number,
  opts: { window?: WindowOptions; seed?: number; epoch?: bigint } = {},
): EpochSenderKeys[] {
  const exporterSecret = seededBytes(opts.seed ?? 1, 32);
  const senders = Array.from({ length: n }, (_, i) => i);
  return senders.map(
    (ownLeaf) =>
      new EpochSenderKeys({
        roomId: ROOM,
        epoch: opts.epoch ?? EPOCH,
        exporterSecret,
        ownLeaf,
        senders,
        ...(opts.window !== undefined ? { window: opts.window } : {}),
      }),
  );
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const fromUtf8 = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A fast-check seed, printed so that a failing run can be replayed with FC_SEED. */
export function fcSeed(file: string): number {
  const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : Date.now() | 0;
  console.info(`[${file}] fast-check seed ${seed} (replay: FC_SEED=${seed})`);
  return seed;
}

/** The SenderKeyError code `fn` throws, or "OK" when it returns. */
export function errorCode(fn: () => unknown): string {
  try {
    fn();
    return "OK";
  } catch (e) {
    if (e instanceof SenderKeyError) return e.code;
    throw e;
  }
}
