/**
 * One sender's symmetric ratchet within one epoch (DESIGN §7): the current chain key,
 * the next generation it yields, and a bounded window of skipped message keys for
 * out-of-order delivery. Forward secrecy: a message key is wiped as soon as it has
 * opened (or sealed) its message, and a chain key as soon as its successor exists.
 * State changes only after a ciphertext authenticates, so forged input cannot advance
 * the chain or evict keys.
 */
import { MAX_GENERATION, messageKey, nextChainKey, openWith } from "./ratchet.js";

export interface WindowOptions {
  /** Most skipped keys kept per sender; the oldest are erased first. Default 1000. */
  readonly maxSkip?: number;
  /** Most generations a message may be ahead of the next expected one. Default maxSkip. */
  readonly maxAheadGenerations?: number;
}

export interface ResolvedWindow {
  readonly maxSkip: number;
  readonly maxAheadGenerations: number;
}

export const DEFAULT_MAX_SKIP = 1000;

export function resolveWindow(w: WindowOptions | undefined): ResolvedWindow {
  const maxSkip = w?.maxSkip ?? DEFAULT_MAX_SKIP;
  const maxAheadGenerations = w?.maxAheadGenerations ?? maxSkip;
  for (const [name, v] of [
    ["maxSkip", maxSkip],
    ["maxAheadGenerations", maxAheadGenerations],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 1_000_000) {
      throw new RangeError(`"window.${name}" expected an integer in [0, 1000000], got ${v}`);
    }
  }
  return { maxSkip, maxAheadGenerations };
}

/** Why a receive attempt failed; mapped to `SenderKeyError` codes by the caller. */
export type ChainOpenResult =
  | { readonly kind: "ok"; readonly plaintext: Uint8Array }
  | { readonly kind: "replay" }
  | { readonly kind: "tooFarAhead" }
  | { readonly kind: "decryptFailed" };

export class SenderChain {
  /** CK_{generation}; wiped and replaced on every step. */
  private chainKey: Uint8Array;
  /** The next generation this chain yields. */
  private gen: number;
  /** Skipped message keys in ascending generation order (Map keeps insertion order). */
  private readonly skipped = new Map<number, Uint8Array>();

  constructor(
    chainKey: Uint8Array,
    generation: number,
    private readonly window: ResolvedWindow,
  ) {
    this.chainKey = chainKey;
    this.gen = generation;
  }

  get generation(): number {
    return this.gen;
  }

  /** Rebuilds a chain from persisted state (state.ts); takes ownership of the arrays. */
  static restore(
    chainKey: Uint8Array,
    generation: number,
    window: ResolvedWindow,
    skipped: Iterable<readonly [number, Uint8Array]>,
  ): SenderChain {
    const c = new SenderChain(chainKey, generation, window);
    for (const [g, k] of [...skipped].sort((a, b) => a[0] - b[0])) c.skipped.set(g, k);
    c.evict();
    return c;
  }

  /** Copies of the held skipped keys, ascending (for persisted state). */
  skippedCopies(): Array<[number, Uint8Array]> {
    return [...this.skipped].map(([g, k]) => [g, k.slice()]);
  }

  /** A copy of the current chain key (for the notification blob). */
  chainKeyCopy(): Uint8Array {
    return this.chainKey.slice();
  }

  /** Sending: the key for the next generation; the chain moves on at once. */
  nextSendKey(): { generation: number; key: Uint8Array } | undefined {
    if (this.gen > MAX_GENERATION) return undefined;
    const generation = this.gen;
    const key = messageKey(this.chainKey);
    this.step();
    return { generation, key };
  }

  /**
   * Receiving: opens `ciphertext` as generation `g` with `nonce` and `ad`. On success the
   * used key is wiped, keys for skipped generations are kept (bounded), the chain moves
   * past `g`.
   */
  open(g: number, nonce: Uint8Array, ad: Uint8Array, ciphertext: Uint8Array): ChainOpenResult {
    if (g < this.gen) {
      const mk = this.skipped.get(g);
      if (mk === undefined) return { kind: "replay" };
      const plaintext = openWith(mk, nonce, ad, ciphertext);
      if (plaintext === undefined) return { kind: "decryptFailed" };
      mk.fill(0);
      this.skipped.delete(g);
      return { kind: "ok", plaintext };
    }
    if (g - this.gen > this.window.maxAheadGenerations) return { kind: "tooFarAhead" };
    // Derive tentatively from a copy; commit only once the ciphertext authenticates.
    const pending: Uint8Array[] = [];
    let ck: Uint8Array = this.chainKey.slice();
    for (let i = this.gen; i < g; i++) {
      pending.push(messageKey(ck));
      const next = nextChainKey(ck);
      ck.fill(0);
      ck = next;
    }
    const mk = messageKey(ck);
    const plaintext = openWith(mk, nonce, ad, ciphertext);
    mk.fill(0);
    if (plaintext === undefined) {
      for (const k of pending) k.fill(0);
      ck.fill(0);
      return { kind: "decryptFailed" };
    }
    for (let i = 0; i < pending.length; i++) {
      this.skipped.set(this.gen + i, pending[i] as Uint8Array);
    }
    this.chainKey.fill(0);
    this.chainKey = nextChainKey(ck);
    ck.fill(0);
    this.gen = g + 1;
    this.evict();
    return { kind: "ok", plaintext };
  }

  /** Erases every secret this chain holds. */
  destroy(): void {
    this.chainKey.fill(0);
    for (const k of this.skipped.values()) k.fill(0);
    this.skipped.clear();
  }

  /** @internal test hook: live references to every secret array held. */
  secretsForTest(): { chainKey: Uint8Array; skipped: Map<number, Uint8Array> } {
    return { chainKey: this.chainKey, skipped: this.skipped };
  }

  private step(): void {
    const next = nextChainKey(this.chainKey);
    this.chainKey.fill(0);
    this.chainKey = next;
    this.gen += 1;
  }

  private evict(): void {
    while (this.skipped.size > this.window.maxSkip) {
      const oldest = this.skipped.keys().next();
      if (oldest.done === true) return;
      this.skipped.get(oldest.value)?.fill(0);
      this.skipped.delete(oldest.value);
    }
  }
}
